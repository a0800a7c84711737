// bext's own version, inlined from package.json by the bundler.
import pkg from '../../package.json' with { type: 'json' };

export const BEXT_VERSION: string = pkg.version;
