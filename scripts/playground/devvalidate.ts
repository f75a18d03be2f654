// devvalidate is located and run by src/cli/devvalidate.ts (the compiled `authz validate` needs it
// too); the scripts import it from here.
export { devvalidateBinary, runDevvalidate } from '../../src/cli/devvalidate.js';
