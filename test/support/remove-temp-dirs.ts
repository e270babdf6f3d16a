// Setup file of both vitest projects: after each test file, remove the temporary directories its
// hooks and module scope made (those made inside a test are already gone when the test finishes).
// Registered first, so it runs after the file's own afterAll hooks (hooks run as a stack), once
// the servers that read those directories are closed.
import { afterAll } from "vitest";
import { removeTempDirs } from "./temp-dir.ts";

afterAll(removeTempDirs);
