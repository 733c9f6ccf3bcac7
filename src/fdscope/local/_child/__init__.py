"""Files that run inside the local Lambda's child process (never imported by fdscope)."""
