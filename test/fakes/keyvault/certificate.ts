import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  /** Directory holding cert.pem and key.pem; removed by `dispose`. */
  dir: string;
  /** PEM file to trust: pass as NODE_EXTRA_CA_CERTS to subprocesses. */
  certPath: string;
  cert: string;
  key: string;
  dispose(): void;
}

/**
 * A throwaway self-signed certificate for 127.0.0.1 / ::1 / localhost, made with openssl at test time (the Key
 * Vault SDK insists on HTTPS). Nothing is committed; the key lives in a private temp dir until `dispose`.
 */
export function createTestCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'tk-kv-cert-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      '/CN=tokenkeeper fake key vault',
      '-addext',
      'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'ignore' },
  );
  return {
    dir,
    certPath,
    cert: readFileSync(certPath, 'utf8'),
    key: readFileSync(keyPath, 'utf8'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
