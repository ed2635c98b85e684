/**
 * The SM primitives (@wxseal/gm) the bench's SM suite rows and scenario (l) use, imported in this one
 * place: the functions satisfy @wxseal/protocol's `SmPrimitives` as they are (SPEC 6.6).
 */
import * as gm from '@wxseal/gm';

export { gm };
