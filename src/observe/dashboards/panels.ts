/**
 * The few panel shapes our dashboards use, on top of Grafana's Foundation SDK:
 * traffic-light stats and time series, all reading the `datasource` variable, laid
 * out left to right in rows of 24 columns.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardBuilder, DatasourceVariableBuilder, MappingType, RowBuilder, ThresholdsMode, type Panel, type ThresholdsConfig, type ValueMapping } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

export interface Query {
  expr: string;
  legend?: string;
}

export interface PanelSpec {
  title: string;
  description?: string;
  queries: Query[];
  unit?: string;
  /** Columns of 24; rows wrap. */
  width?: number;
  height?: number;
}

export interface StatSpec extends PanelSpec {
  /** Colour steps: the value from which each colour applies (first is the base). */
  steps?: { color: string; value: number | null }[];
  /** Show 1/0 as UP/DOWN. */
  upDown?: boolean;
}

type Item = { kind: 'row'; title: string } | { kind: 'stat'; spec: StatSpec } | { kind: 'timeseries'; spec: PanelSpec };

const thresholds = (steps: { color: string; value: number | null }[]): cog.Builder<ThresholdsConfig> => ({
  build: () => ({ mode: ThresholdsMode.Absolute, steps }),
});

const UP_DOWN: ValueMapping[] = [
  {
    type: MappingType.ValueToText,
    options: { '0': { text: 'DOWN', color: 'red', index: 0 }, '1': { text: 'UP', color: 'green', index: 1 } },
  },
];

function targets(queries: Query[]): DataqueryBuilder[] {
  return queries.map((q, i) =>
    new DataqueryBuilder()
      .expr(q.expr)
      .refId(String.fromCharCode(65 + i))
      .legendFormat(q.legend ?? '__auto')
      .datasource(DATASOURCE),
  );
}

export class Board {
  private readonly items: Item[] = [];

  constructor(
    readonly uid: string,
    readonly title: string,
    readonly description: string,
  ) {}

  row(title: string): this {
    this.items.push({ kind: 'row', title });
    return this;
  }

  stat(spec: StatSpec): this {
    this.items.push({ kind: 'stat', spec });
    return this;
  }

  timeseries(spec: PanelSpec): this {
    this.items.push({ kind: 'timeseries', spec });
    return this;
  }

  /** Every PromQL expression, for the live query test. */
  queries(): { panel: string; expr: string }[] {
    return this.items.flatMap((i) => (i.kind === 'row' ? [] : i.spec.queries.map((q) => ({ panel: i.spec.title, expr: q.expr }))));
  }

  build(): ReturnType<DashboardBuilder['build']> {
    const d = new DashboardBuilder(this.title)
      .uid(this.uid)
      .description(this.description)
      .tags(['dataplane'])
      .refresh('30s')
      .time({ from: 'now-1h', to: 'now' })
      .timezone('browser')
      .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'));
    let x = 0;
    let y = 0;
    let rowHeight = 0;
    const place = (w: number, h: number) => {
      if (x + w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      const pos = { x, y, w, h };
      x += w;
      rowHeight = Math.max(rowHeight, h);
      return pos;
    };
    for (const item of this.items) {
      if (item.kind === 'row') {
        if (x > 0) {
          x = 0;
          y += rowHeight;
          rowHeight = 0;
        }
        d.withRow(new RowBuilder(item.title).gridPos({ x: 0, y, w: 24, h: 1 }));
        y += 1;
        continue;
      }
      const s = item.spec;
      if (item.kind === 'stat') {
        const st = item.spec;
        const p = new StatBuilder()
          .title(s.title)
          .gridPos(place(s.width ?? 4, s.height ?? 4))
          .datasource(DATASOURCE)
          .targets(targets(s.queries))
          .thresholds(thresholds(st.steps ?? [{ color: 'green', value: null }]));
        if (s.description) p.description(s.description);
        if (s.unit) p.unit(s.unit);
        if (st.upDown) p.mappings(UP_DOWN);
        d.withPanel(p as unknown as cog.Builder<Panel>);
      } else {
        const p = new TimeseriesBuilder()
          .title(s.title)
          .gridPos(place(s.width ?? 12, s.height ?? 8))
          .datasource(DATASOURCE)
          .targets(targets(s.queries));
        if (s.description) p.description(s.description);
        if (s.unit) p.unit(s.unit);
        d.withPanel(p as unknown as cog.Builder<Panel>);
      }
    }
    return d.build();
  }
}

/** Colour steps of a traffic light that turns red at `red` and orange at `orange` (rising values). */
export const risingLight = (orange: number, red: number) => [
  { color: 'green', value: null },
  { color: 'orange', value: orange },
  { color: 'red', value: red },
];

/** The same for values that are bad when low (free space, availability). */
export const fallingLight = (red: number, orange: number) => [
  { color: 'red', value: null },
  { color: 'orange', value: red },
  { color: 'green', value: orange },
];

export const UP_STEPS = [
  { color: 'red', value: null },
  { color: 'green', value: 1 },
];
