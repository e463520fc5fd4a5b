// Module resolution hook: lets a scenario file anywhere `import … from "fieldtest"` and get
// this fieldtest, even where no node_modules holds it (a scenario in another folder).
let entry;

export function initialize(data) {
  entry = data.entry;
}

export function resolve(specifier, context, next) {
  // Handed on, not short-circuited, so tsx still resolves and compiles the TypeScript entry.
  if (specifier === "fieldtest") return next(entry, context);
  return next(specifier, context);
}
