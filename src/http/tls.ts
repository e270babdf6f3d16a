// The serving certificate: read from files, validated before use, and reloaded when the files
// change. A Kubernetes Secret volume never rewrites tls.crt in place: it writes a new timestamped
// directory and atomically swaps the `..data` symlink, so the file's own inode never changes and
// a watch on the file misses it. Watching the directory catches the swap; a periodic content
// check is the fallback for filesystems where watches do not fire.

import { X509Certificate } from "node:crypto";
import { type FSWatcher, readFileSync, watch } from "node:fs";
import { dirname } from "node:path";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "../log.ts";

const TLS_MIN_VERSION = "TLSv1.2";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** The certificate or key cannot be used; the message is one line naming the files. */
export class TlsMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsMaterialError";
  }
}

/** The options a TLS server needs for this material (also what setSecureContext receives). */
export function secureContextOptions(material: TlsMaterial): SecureContextOptions {
  return { cert: material.cert, key: material.key, minVersion: TLS_MIN_VERSION };
}

/** Read both files and prove they load together (PEM parses, key matches certificate). */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const material = { cert: readPem(files.certFile, "certificate"), key: readPem(files.keyFile, "key") };
  try {
    createSecureContext(secureContextOptions(material));
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TlsMaterialError(
      `TLS_CERT_FILE/TLS_KEY_FILE: ${files.certFile} and ${files.keyFile} do not load as a pair: ${reason}`,
    );
  }
  return material;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TlsMaterialError(`cannot read TLS ${what} ${file}: ${reason}`);
  }
}

/** Fingerprint and expiry of the leaf certificate, for logs. */
function describeCertificate(material: TlsMaterial): { fingerprint256: string; validTo: string } {
  const leaf = new X509Certificate(material.cert);
  return { fingerprint256: leaf.fingerprint256, validTo: leaf.validTo };
}

export interface TlsReloaderOptions {
  files: TlsFiles;
  /** What the server was started with; only different content is applied. */
  current: TlsMaterial;
  apply(material: TlsMaterial): void;
  log: Pick<Logger, "info" | "warn" | "error">;
  /** Fallback content check; the directory watch normally reacts within milliseconds. */
  pollIntervalMs?: number;
  /** Lets a non-atomic writer finish both files before they are read. */
  settleMs?: number;
}

export interface TlsReloader {
  /** Compare the files with what is served and apply them if they differ and load. */
  check(): void;
  close(): void;
}

export function watchTlsFiles(options: TlsReloaderOptions): TlsReloader {
  const { files, apply, log } = options;
  let served = options.current;
  let lastProblem: string | undefined;
  let settleTimer: NodeJS.Timeout | undefined;

  const check = (): void => {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(files);
    } catch (error) {
      if (!(error instanceof TlsMaterialError)) throw error;
      // A non-atomic writer can pair a new cert with the old key for a moment; the next event
      // or poll retries, and a problem that persists is reported once, not every poll.
      if (error.message !== lastProblem) {
        log.error(
          { err: error.message },
          "TLS files changed but do not load; still serving the previous certificate",
        );
      }
      lastProblem = error.message;
      return;
    }
    lastProblem = undefined;
    if (sameMaterial(next, served)) return;
    apply(next);
    served = next;
    log.info({ ...describeCertificate(next), certFile: files.certFile }, "TLS certificate reloaded");
  };

  const scheduleCheck = (): void => {
    if (settleTimer !== undefined) clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      settleTimer = undefined;
      check();
    }, options.settleMs ?? 100);
  };

  const watchers: FSWatcher[] = [];
  for (const directory of new Set([dirname(files.certFile), dirname(files.keyFile)])) {
    try {
      const watcher = watch(directory, { persistent: false }, scheduleCheck);
      watcher.on("error", (error) => {
        log.warn(
          { err: error.message, directory },
          "TLS directory watch failed; relying on the periodic check",
        );
        watcher.close();
      });
      watchers.push(watcher);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      log.warn({ err: reason, directory }, "cannot watch TLS directory; relying on the periodic check");
    }
  }
  const poll = setInterval(check, options.pollIntervalMs ?? 10_000);
  poll.unref();

  return {
    check,
    close() {
      clearInterval(poll);
      if (settleTimer !== undefined) clearTimeout(settleTimer);
      for (const watcher of watchers) watcher.close();
    },
  };
}

function sameMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key);
}
