import t from "tap";
import { DEFAULT_MAX_SERIES, MetricError, MetricStore } from "../src/observe/metrics.ts";

t.test("the number of series is capped, with a message that names the cause", async (t) => {
  const store = new MetricStore();
  for (let i = 0; i < DEFAULT_MAX_SERIES; i++) store.push("requests", 1, { labels: { id: i } });
  const error = (() => {
    try {
      store.push("requests", 1, { labels: { id: "one-too-many" } });
    } catch (e) {
      return e;
    }
  })();
  t.ok(error instanceof MetricError, "the series past the cap is refused");
  t.match((error as Error).message, new RegExp(`cap of ${DEFAULT_MAX_SERIES} series over all metrics; a label with unbounded values`));
  t.throws(() => store.push("other_metric", 1), /cap of/, "the cap covers every metric");
  store.push("requests", 7, { labels: { id: 3 } });
  t.match(await store.render(), /requests\{id="3"\} 7/, "existing series keep updating");
  t.throws(() => new MetricStore({ maxSeries: 0 }), /maxSeries must be a positive integer/);
  const small = new MetricStore({ maxSeries: 2 });
  small.push("a", 1);
  small.push("b", 1);
  t.throws(() => small.push("c", 1), /cap of 2 series/);
});
