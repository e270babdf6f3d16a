// The Pepr module's entry point, as `pepr init` writes it, except that it listens on $PORT
// (Pepr's default is a fixed 3000) so the bench can run it beside other servers.
import { PeprModule } from "pepr";
import { Prepull } from "./capabilities/prepull";
import cfg from "./package.json";

new PeprModule(cfg, [Prepull], { deferStart: true }).start(Number(process.env.PORT ?? "3000"));
