// A directory laid out like a mounted Secret volume, updated the way the kubelet's atomic writer
// does it: the files live in a timestamped directory, `..data` points at it, and each key is a
// symlink through `..data`; an update writes a new directory and swaps `..data` in one rename.
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** A Secret volume: dir/tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/ */
export class SecretVolume {
  readonly dir: string;
  private generation = 0;
  private current: string | undefined;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  get certFile(): string {
    return join(this.dir, "tls.crt");
  }

  get keyFile(): string {
    return join(this.dir, "tls.key");
  }

  /** What the kubelet's atomic writer does on every Secret update. */
  write(cert: string, key: string): void {
    this.generation++;
    const version = `..2026_11_29_12_00_0${this.generation}.${String(this.generation).padStart(9, "0")}`;
    mkdirSync(join(this.dir, version));
    writeFileSync(join(this.dir, version, "tls.crt"), cert);
    writeFileSync(join(this.dir, version, "tls.key"), key);
    symlinkSync(version, join(this.dir, "..data_tmp"));
    renameSync(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    if (this.current === undefined) {
      symlinkSync(join("..data", "tls.crt"), this.certFile);
      symlinkSync(join("..data", "tls.key"), this.keyFile);
    } else {
      rmSync(join(this.dir, this.current), { recursive: true });
    }
    this.current = version;
  }
}
