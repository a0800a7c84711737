// STUB, replaced by the installer work: the `bext` command.
process.stderr.write('bext: not built yet\n');
process.exitCode = 1;
