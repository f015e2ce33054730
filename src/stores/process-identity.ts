import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Which machine, boot and PID namespace this process runs in. A lock held by a process of the same identity
 * whose pid is gone is taken over at once (no waiting for its lease). The boot id tells cloned machines with one
 * hostname apart; the PID namespace tells apart containers that share a hostname and kernel.
 */
export function localIdentity(): string {
  const parts = [hostname()];
  try {
    parts.push(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  } catch {
    // not Linux: the hostname alone
  }
  try {
    parts.push(readlinkSync('/proc/self/ns/pid').replace(/^pid:\[(\d+)\]$/, '$1'));
  } catch {
    // no PID namespaces
  }
  return parts.join('#');
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
