// STUB, replaced by the shim work: the `nginx` command installed at /usr/sbin/nginx.
process.stderr.write('nginx: shim not built yet\n');
process.exitCode = 1;
