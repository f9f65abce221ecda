// The market pages' index: the candle series the price chart can draw (the served run's bars,
// the store's series, the shared data's files) and the L2 depth captures of the heat map.
import { useState } from "react";

import type { Api, Schemas } from "../../api/client";
import { useLoad } from "../../hooks/useLoad";

type Series = Schemas["MarketSeries"];

const SOURCES: { key: Series["source"]; title: string }[] = [
  { key: "run", title: "this run's bars" },
  { key: "store", title: "the store" },
  { key: "shared", title: "shared data files" },
];

export function chartHash(id: string, regime = "wyckoff"): string {
  return `#/market/chart/${encodeURIComponent(id)}/${regime}`;
}

export function MarketPage({ api }: { api: Api }) {
  const series = useLoad(() => api.get("/market/series"), [api]);
  const captures = useLoad(() => api.get("/market/captures"), [api]);
  const [text, setText] = useState("");
  const match = (s: Series) => !text || s.label.toLowerCase().includes(text.toLowerCase());
  return (
    <section>
      <h2>Market</h2>
      <p className="muted">
        Price with its regimes (Wyckoff phases or walk-forward HMM states) and the detected events
        (capitulations, bull traps, climaxes, springs, upthrusts, volatility breakouts); the order
        book's depth over time with the traded price and the spoofing candidates.
      </p>
      <h3>Order-book heat maps</h3>
      {captures.error && <p className="error">{captures.error}</p>}
      {captures.data &&
        (captures.data.length === 0 ? (
          <p className="muted" data-testid="captures-empty">
            No depth capture in the shared data folder (GREKKO_SHARED_DATA/orderbook).
          </p>
        ) : (
          <ul data-testid="captures">
            {captures.data.map((c) => (
              <li key={c.id}>
                <a href={`#/market/book/${encodeURIComponent(c.id)}`} data-testid="capture-link">
                  {c.exchange} {c.market} {c.symbol}
                </a>{" "}
                <span className="muted">
                  {c.window}
                  {c.trades ? " · with trades" : ""}
                </span>
              </li>
            ))}
          </ul>
        ))}
      <h3>Price charts</h3>
      <div className="filters">
        <input
          placeholder="filter: symbol, timeframe, source"
          value={text}
          onChange={(e) => setText(e.target.value)}
          data-testid="series-filter"
        />
      </div>
      {series.error && <p className="error">{series.error}</p>}
      {series.data &&
        SOURCES.map(({ key, title }) => {
          const rows = series.data?.filter((s) => s.source === key && match(s)) ?? [];
          return (
            <div key={key}>
              <h3>From {title}</h3>
              {rows.length === 0 ? (
                <p className="muted">None.</p>
              ) : (
                <ul data-testid={`series-${key}`}>
                  {rows.map((s) => (
                    <li key={s.id}>
                      <a href={chartHash(s.id)} data-testid="series-link" data-id={s.id}>
                        {s.label}
                      </a>
                    </li>
                  ))}
                </ul>
              )}
            </div>
          );
        })}
    </section>
  );
}
