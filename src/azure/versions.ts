/** Orders image version names (`1.10.0` after `1.9.0`, `24.04.202610150` after `24.04.202609010`). */
export function compareVersions(a: string, b: string): number {
  const left = a.split(/[.-]/);
  const right = b.split(/[.-]/);
  for (let index = 0; index < Math.max(left.length, right.length); index++) {
    const x = left[index] ?? "";
    const y = right[index] ?? "";
    const nx = Number(x);
    const ny = Number(y);
    const order =
      Number.isInteger(nx) && Number.isInteger(ny) && x !== "" && y !== "" ? nx - ny : x.localeCompare(y);
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

export function newestVersion(names: string[]): string | undefined {
  return [...names].sort(compareVersions).at(-1);
}
