// The Dockerfile (for users with Docker) and scripts/image/recipe.ts (what `npm run image:build`
// assembles without Docker) describe one image: these tests fail when one changes without the other.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  APP_FILES,
  baseFiles,
  IMAGE_CONFIG,
  NODE_BINARY,
  NONROOT,
  PRODUCTION_INSTALL,
} from "../../scripts/image/recipe.ts";
import { repoRoot } from "../support/kube-bin.ts";

const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1) ?? "";
/** Stage name (`AS name`) → the build recipe's name for what that stage produces. */
const STAGE_SOURCES: Record<string, string> = {
  deps: "production-install",
  build: "build",
  sleeper: "sleeper",
};

function instruction(name: string): string[] {
  return [...runtime.matchAll(new RegExp(`^${name} (.+)$`, "gm"))].map((m) => m[1] ?? "");
}

describe("the Docker-free image recipe and the Dockerfile", () => {
  it("copy the same files to the same paths, from the same kind of build step", () => {
    const workdir = instruction("WORKDIR")[0] ?? "/";
    const copies = instruction("COPY").map((line) => {
      const match = /^--from=(\S+) (\S+) (\S+)$/.exec(line);
      if (!match) throw new Error(`unexpected COPY in the runtime stage: ${line}`);
      const [, stage = "", from = "", to = ""] = match;
      return {
        source: STAGE_SOURCES[stage],
        from: from.split("/").at(-1),
        to: to.startsWith("/") ? to : join(workdir, to),
      };
    });
    expect(copies).toEqual(APP_FILES.map((f) => ({ source: f.source, from: f.from, to: f.to })));
  });

  it("install production dependencies with the same npm command", () => {
    expect(dockerfile).toContain(`RUN npm ${PRODUCTION_INSTALL.join(" ")}\n`);
  });

  it("run as the same non-root user, from the same directory, with the same entrypoint, environment and port", () => {
    expect(instruction("USER")).toEqual([IMAGE_CONFIG.user]);
    expect(IMAGE_CONFIG.user).toBe("65532:65532");
    expect(instruction("WORKDIR")).toEqual([IMAGE_CONFIG.workdir]);
    expect(instruction("ENTRYPOINT").map((e) => JSON.parse(e))).toEqual([IMAGE_CONFIG.entrypoint]);
    expect(instruction("ENV")).toEqual([`NODE_ENV=${IMAGE_CONFIG.env.NODE_ENV}`]);
    expect(
      instruction("EXPOSE")
        .flatMap((ports) => ports.split(" "))
        .map((p) => `${p}/tcp`),
    ).toEqual(IMAGE_CONFIG.exposedPorts);
  });

  it("start on distroless's Node.js of the major version the recipe ships, with its nonroot user", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    const major = pkg.devDependencies.node?.split(".")[0];
    expect(major).toBe("24");
    expect(runtime).toMatch(new RegExp(`^gcr\\.io/distroless/nodejs${major}-debian12:nonroot\\n`));
    expect(NODE_BINARY).toBe("/nodejs/bin/node");
    const passwd = baseFiles().find((f) => f.path === "/etc/passwd")?.text ?? "";
    expect(passwd).toContain(`nonroot:x:65532:65532:nonroot:${NONROOT.home}:/sbin/nologin\n`);
    // No account has a shell to log in with: there is none in the image.
    for (const line of passwd.trim().split("\n")) expect(line.endsWith(":/sbin/nologin")).toBe(true);
  });
});
