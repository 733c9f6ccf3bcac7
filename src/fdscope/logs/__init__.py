"""Log events in CloudWatch's model, read from every source fdscope knows (standard library only)."""
