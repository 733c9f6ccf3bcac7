// bench/lint_js.py: ESLint's recommended rules on plain JavaScript (the baseline fdscope's
// JavaScript lint is timed against). Script or module decided by the file's syntax.
import js from "@eslint/js";

export default [
  js.configs.recommended,
  {
    files: ["**/*.js", "**/*.cjs", "**/*.mjs"],
    languageOptions: { ecmaVersion: "latest", sourceType: "commonjs" },
  },
  { files: ["**/*.mjs"], languageOptions: { sourceType: "module" } },
];
