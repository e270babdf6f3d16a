// prepull's mutation as a Pepr capability: for an opted-in Deployment, set prepull.dev/images to
// the digest of its normalised image set. The images helpers are prepull's own (bundled by
// `pepr build`), so the answer carries the same patch as prepull's.
import { a, Capability } from "pepr";
import { collectImages, imageSetDigest } from "../../../../src/core/images.ts";

export const Prepull = new Capability({
  name: "prepull",
  description: "Record the image set of opted-in workloads",
  namespaces: [],
});

Prepull.When(a.Deployment)
  .IsCreatedOrUpdated()
  .Mutate((request) => {
    if (request.Raw.metadata?.annotations?.prepull !== "true") return;
    const podSpec = request.Raw.spec?.template?.spec;
    if (podSpec === undefined) return;
    const { images } = collectImages(podSpec as unknown as Record<string, unknown>);
    const digest = imageSetDigest(images.map((image) => image.reference));
    if (request.Raw.metadata.annotations["prepull.dev/images"] === digest) return;
    request.SetAnnotation("prepull.dev/images", digest);
  });
