// The run's parent orders, worked by execution algorithms (TWAP, VWAP, iceberg, chase) as child
// orders: each one's progress (filled of its quantity, children sent and filled), its state,
// and for a control token a cancel of a working one (the runner sends no child after it and
// cancels its resting child; what filled stays), answered like the manual orders.
import type { Api, Schemas } from "../api/client";
import { qty, utc } from "../format";
import type { Scope } from "../session";
import { CancelOrder } from "./ManualOrders";
import { Table } from "./Table";

type Parent = Schemas["ParentOut"];

/** Filled of the quantity, with the share when both are numbers. */
function progress(p: Parent): string {
  const filled = Number(p.filled);
  const total = Number(p.qty);
  const share = total > 0 && Number.isFinite(filled) ? ` (${((100 * filled) / total).toFixed(0)}%)` : "";
  return `${qty(p.filled)} / ${qty(p.qty)}${share}`;
}

function stateOf(p: Parent): string {
  if (p.state !== "cancelled") return p.state;
  const why = [p.cancelled_by, p.cancel_reason].filter((x) => x).join(": ");
  return why ? `cancelled (${why})` : "cancelled";
}

export function WorkingOrders({
  api,
  scope,
  parents,
  onDone,
}: {
  api: Api;
  scope: Scope;
  parents: Parent[];
  onDone: () => void;
}) {
  const working = parents.filter((p) => p.state === "working").length;
  const rows = [...parents].reverse(); // newest first
  return (
    <section>
      <h3>
        Working orders ({working} working, {parents.length} in all)
      </h3>
      <Table<Parent>
        testId="parents"
        rows={rows}
        rowKey={(p) => p.parent_id}
        empty="No parent order: an entry or exit with an execution algorithm starts one."
        columns={[
          { title: "started (bar)", cell: (p) => utc(p.start_ts, false) },
          { title: "parent", cell: (p) => <code>{p.parent_id}</code> },
          { title: "symbol", cell: (p) => p.symbol },
          { title: "side", cell: (p) => p.side },
          { title: "algo", cell: (p) => p.kind },
          { title: "filled / qty", cell: progress, numeric: true },
          {
            title: "children sent / filled",
            cell: (p) => `${p.children_sent} / ${p.children_filled}`,
            numeric: true,
          },
          { title: "state", cell: stateOf },
          {
            title: "",
            cell: (p) => (
              <CancelOrder
                api={api}
                scope={scope}
                target={{ parentId: p.parent_id }}
                label={`${p.kind} ${p.side} ${qty(p.qty)} ${p.symbol}`}
                can={p.state === "working"}
                onDone={onDone}
              />
            ),
          },
        ]}
      />
    </section>
  );
}
