export { startFakeKeyVault, MAX_SECRET_BYTES } from './server.ts';
export type {
  FakeKeyVault,
  FakeKeyVaultOptions,
  FakeSecretVersion,
  FaultRule,
  KeyVaultFault,
  KeyVaultRequestRecord,
} from './server.ts';
export { createTestCertificate } from './certificate.ts';
export type { TestCertificate } from './certificate.ts';
export { startFakeEntra } from './entra.ts';
export type { FakeEntra } from './entra.ts';
