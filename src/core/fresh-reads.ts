/**
 * One read shared by every caller of an event-loop turn, made after that turn's I/O callbacks (setImmediate: the
 * check phase follows the poll phase, where sockets are read). Its answer is therefore at least as new as every
 * request that had arrived when its caller asked, so a change committed before a request arrived is always seen,
 * yet a server under load pays one read per turn, not one per request. A caller arriving while a read is under
 * way waits for the next one: that read may have started before it arrived.
 */
export class FreshReads<T> {
  private readonly read: (key: string) => T | Promise<T>;
  private readonly waiting = new Map<string, Promise<T>>();

  constructor(read: (key: string) => T | Promise<T>) {
    this.read = read;
  }

  next(key = ''): Promise<T> {
    let answer = this.waiting.get(key);
    if (!answer) {
      answer = new Promise<T>((resolve, reject) => {
        setImmediate(() => {
          this.waiting.delete(key);
          try {
            resolve(this.read(key));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      });
      this.waiting.set(key, answer);
    }
    return answer;
  }
}
