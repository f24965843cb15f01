#!/usr/bin/env node
'use strict';
// The `bosun` command (package.json "bin"). tsx compiles the TypeScript sources on the fly.
require('tsx/cjs');
const { main } = require('../src/cli/main.ts');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
