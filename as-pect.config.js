// as-pect runs every spec by default; ASP_ENTRIES="a.spec.ts,b.spec.ts" narrows a run.
const entries = process.env.ASP_ENTRIES
  ? process.env.ASP_ENTRIES.split(",")
  : ["assembly/__tests__/**/*.spec.ts"];

export default {
  entries,
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
