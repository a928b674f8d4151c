// `node --import tsx --import ./loaded-modules-register.mjs ...`: records the URL of every module
// the process loads into $LOADED_MODULES_FILE (one a line), through a module resolve hook, so a
// test can tell which packages a code path pulled in. Registered after tsx, so it sees final URLs.
import { register } from 'node:module';

register('./loaded-modules-hooks.mjs', import.meta.url);
