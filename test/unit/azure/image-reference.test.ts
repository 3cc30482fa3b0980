import { describe, expect, it } from "vitest";
import { fromArmImageReference, runsImage, toArmImageReference } from "../../../src/azure/image-reference.ts";

const gallery =
  "/subscriptions/s/resourceGroups/rg-demo/providers/Microsoft.Compute/galleries/demoGallery/images/web";

describe("image references between ARM and canaryd", () => {
  it("an instance runs a gallery version when the ids match without regard to case", () => {
    expect(
      runsImage(
        { id: `${gallery}/versions/1.1.0`, exactVersion: "1.1.0" },
        { id: `${gallery.toUpperCase()}/versions/1.1.0` },
      ),
    ).toBe(true);
    expect(runsImage({ id: `${gallery}/versions/1.0.0` }, { id: `${gallery}/versions/1.1.0` })).toBe(false);
  });

  it("an instance on `latest` runs the version ARM reports as exactVersion", () => {
    const running = { id: `${gallery}/versions/latest`, exactVersion: "1.1.0" };
    expect(runsImage(running, { id: `${gallery}/versions/1.1.0` })).toBe(true);
    expect(runsImage(running, { id: `${gallery}/versions/1.0.0` })).toBe(false);
  });

  it("a marketplace instance runs the version its exactVersion names when the model says latest", () => {
    const running = {
      publisher: "Canonical",
      offer: "ubuntu-24_04-lts",
      sku: "server",
      version: "latest",
      exactVersion: "24.04.202610150",
    };
    expect(
      runsImage(running, {
        publisher: "canonical",
        offer: "ubuntu-24_04-lts",
        sku: "server",
        version: "24.04.202610150",
      }),
    ).toBe(true);
    expect(
      runsImage(running, {
        publisher: "Canonical",
        offer: "ubuntu-24_04-lts",
        sku: "server",
        version: "24.04.202609010",
      }),
    ).toBe(false);
  });

  it("a gallery image never equals a marketplace image", () => {
    expect(
      runsImage(
        { id: `${gallery}/versions/1.0.0` },
        { publisher: "p", offer: "o", sku: "s", version: "1.0.0" },
      ),
    ).toBe(false);
    expect(runsImage(undefined, { id: `${gallery}/versions/1.0.0` })).toBe(false);
  });

  it("reads only the fields that are set, and never writes the read-only exactVersion", () => {
    const read = fromArmImageReference({
      id: `${gallery}/versions/1.0.0`,
      exactVersion: "1.0.0",
      publisher: "",
    });
    expect(read).toEqual({ id: `${gallery}/versions/1.0.0`, exactVersion: "1.0.0" });
    expect(toArmImageReference(read ?? {})).toEqual({ id: `${gallery}/versions/1.0.0` });
    expect(fromArmImageReference({})).toBeUndefined();
  });
});
