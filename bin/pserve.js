#!/usr/bin/env node
// Thin entry: everything else is loaded lazily by the command table.
import { main } from '../dist/cli/main.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
