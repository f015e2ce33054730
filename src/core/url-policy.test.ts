import { describe, expect, it } from 'vitest';
import { checkEndpointUrl, isLoopbackHost } from './url-policy.ts';

describe('checkEndpointUrl', () => {
  it('accepts https anywhere', () => {
    for (const url of [
      'https://api.fitbit.com/oauth2/token',
      'https://oauth2.googleapis.com/token',
      'https://10.0.0.5:8443/token',
      'https://localhost/token',
    ]) {
      expect(checkEndpointUrl(url, 'token URL').href).toBe(new URL(url).href);
    }
  });

  it('accepts plain http only for loopback: 127.x, ::1 and localhost', () => {
    for (const url of [
      'http://127.0.0.1:8080/oauth2/token',
      'http://127.5.6.7/token',
      'http://[::1]:9000/token',
      'http://localhost:3000/token',
      'http://LOCALHOST/token',
    ]) {
      expect(checkEndpointUrl(url, 'token URL').protocol).toBe('http:');
    }
  });

  it('refuses plain http to any other host, with a config error that says why', () => {
    for (const url of [
      'http://api.fitbit.com/oauth2/token',
      'http://10.0.0.1/token',
      'http://192.168.1.10/token',
      'http://0.0.0.0/token',
      'http://[::]/token',
      'http://[::ffff:7f00:1]/token',
      'http://127.0.0.1.nip.io/token',
      'http://localhost.example.com/token',
      'http://evil.com#@127.0.0.1/token',
    ]) {
      expect(() => checkEndpointUrl(url, 'token URL'), url).toThrow(
        expect.objectContaining({ code: 'config', message: expect.stringMatching(/https/) }),
      );
    }
  });

  it('refuses other schemes and invalid URLs', () => {
    for (const url of [
      'ftp://127.0.0.1/token',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'not a url',
      '',
    ]) {
      expect(() => checkEndpointUrl(url, 'token URL'), url).toThrow(
        expect.objectContaining({ code: 'config' }),
      );
    }
  });

  it('names the setting and does not echo credentials embedded in the URL', () => {
    try {
      checkEndpointUrl('http://user:hunter2secret@example.com/token', 'providers.x.tokenUrl');
      throw new Error('expected an error');
    } catch (error) {
      expect((error as Error).message).toContain('providers.x.tokenUrl');
      expect((error as Error).message).not.toContain('hunter2secret');
    }
  });
});

describe('isLoopbackHost', () => {
  it('recognises loopback names and addresses', () => {
    expect(isLoopbackHost('localhost')).toBe(true);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('127.255.255.254')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('::1')).toBe(true);
  });

  it('rejects everything else', () => {
    for (const host of [
      'example.com',
      '128.0.0.1',
      '10.0.0.1',
      '::',
      '::2',
      '0.0.0.0',
      '127.example.com',
      '1.127.0.0',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
