import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Which machine (and PID namespace) this process runs in. Locks and fleet leases held by a process of the same
 * identity whose pid is gone are taken over at once; the namespace part keeps containers that share a hostname
 * (docker --network host) from judging each other's pids.
 */
export function localIdentity(): string {
  let namespace = '';
  try {
    namespace = readlinkSync('/proc/self/ns/pid').replace(/^pid:\[(\d+)\]$/, '$1');
  } catch {
    // not Linux: the hostname alone
  }
  return namespace ? `${hostname()}#${namespace}` : hostname();
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
