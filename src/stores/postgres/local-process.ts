export { localIdentity, processAlive } from '../process-identity.ts';
