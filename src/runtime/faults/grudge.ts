/**
 * A partition as Jepsen states it: a grudge maps each node to the nodes whose packets it
 * drops. Pure functions of agent names, so they are cheap to test and to reason about.
 */
export type Grudge = ReadonlyMap<string, ReadonlySet<string>>;

/**
 * The complete grudge of some components: every node drops every node of the other
 * components. Nodes in no component keep talking to everyone.
 */
export function completeGrudge(components: ReadonlyArray<readonly string[]>): Grudge {
  const seen = new Map<string, number>();
  components.forEach((component, index) => {
    for (const name of component) {
      const earlier = seen.get(name);
      if (earlier !== undefined && earlier !== index) {
        throw new Error(`partition: ${name} is in components ${earlier + 1} and ${index + 1}; an agent can be on one side only`);
      }
      seen.set(name, index);
    }
  });
  const grudge = new Map<string, Set<string>>();
  components.forEach((component, index) => {
    const others = components.filter((_, i) => i !== index).flat();
    for (const name of component) grudge.set(name, new Set(others));
  });
  return grudge;
}

/** One node cut off from all the others, both ways. */
export function isolationGrudge(node: string, all: readonly string[]): Grudge {
  return completeGrudge([[node], all.filter((name) => name !== node)]);
}

/** How many node pairs the grudge cuts, counting each direction: for reports and events. */
export function cutLinks(grudge: Grudge): number {
  let links = 0;
  for (const dropped of grudge.values()) links += dropped.size;
  return links;
}
