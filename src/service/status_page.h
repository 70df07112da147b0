/* latestframe-service — the page GET / serves: every camera at a glance.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <string_view>

namespace latestframe::service
{

/* One self-contained HTML page (its CSS and plain JavaScript inline, no
 * request outside the service: status_page_policy forbids any) that reads
 * only the service's own API:
 *   - GET /api/cameras once a second, the next poll only after the last
 *     answered; frame rates are the counts' differences over the last
 *     5 s of polls (shown from 3 s on);
 *   - per camera GET /cameras/<id>/latest.jpg?width=<=320&boxes=1, the
 *     next one a second after the last loaded (a slow service or a slow
 *     link gets fewer requests, never a pile of them), and only for the
 *     tiles in view, so that 50 cameras cost 50 thumbnails a second at
 *     most;
 *   - a click on a tile shows that camera alone with its full-size
 *     snapshot (the grid's thumbnails stop meanwhile), a click back (or
 *     Escape) returns to the grid.
 * A camera in trouble (connecting, reconnecting or closed; stalled in the
 * last 5 s; frames older than its max-age) has a red border and says why
 * in red. Snapshots are fetched with cache: no-store
 * and shown from a blob: URL: the snapshot URL is the same each time (the
 * API refuses unknown options such as a cache buster), and an <img> given
 * the same src again would show the browser's copy. */
inline constexpr std::string_view status_page_html = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>latestframe-service</title>
<style>
  :root { color-scheme: dark; --trouble: #e5484d; --ok: #46a758; }
  body { margin: 0; font: 14px/1.35 system-ui, sans-serif; background: #111; color: #ddd; }
  header { display: flex; gap: 1.5em; align-items: baseline; padding: .6em 1em; background: #1b1b1b; }
  header h1 { font-size: 1.1em; margin: 0; }
  #summary.trouble, .state.trouble { color: var(--trouble); font-weight: bold; }
  #grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr));
          gap: .7em; padding: .7em; }
  .tile { margin: 0; background: #1b1b1b; border: 3px solid #2a2a2a; border-radius: 6px;
          cursor: pointer; overflow: hidden; }
  .tile.trouble { border-color: var(--trouble); }
  .picture { aspect-ratio: 4 / 3; background: #000; display: flex; align-items: center;
             justify-content: center; color: #777; }
  .picture img { width: 100%; height: 100%; object-fit: contain; }
  .picture img:not([src]) { display: none; }
  figcaption { padding: .3em .5em .5em; }
  .title { display: flex; justify-content: space-between; gap: .5em; }
  .id { font-weight: bold; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .state { color: var(--ok); }
  dl { display: grid; grid-template-columns: auto 1fr; gap: 0 .6em; margin: .3em 0 0;
       font-variant-numeric: tabular-nums; color: #aaa; }
  dt { color: #777; } dd { margin: 0; }
  .error { color: var(--trouble); font-size: .9em; overflow-wrap: anywhere; }
  #single { padding: .7em; }
  #single .tile { max-width: 100%; cursor: zoom-out; }
  /* Alone, the picture fills the window whatever its size. */
  #single .picture { aspect-ratio: auto; height: 78vh; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header>
  <h1>latestframe-service</h1>
  <span id="summary">reading /api/cameras…</span>
  <span id="updated"></span>
</header>
<main id="grid"></main>
<main id="single" hidden></main>
<script>
"use strict";
const THUMBNAIL_WIDTH = 320;
const REFRESH_MS = 1000;
const TROUBLE_STATES = new Set(["connecting", "reconnecting", "closed"]);

const grid = document.getElementById("grid");
const single = document.getElementById("single");
/* id -> { tile, image, camera (last API record), previous (its record
 * in the base poll), timer, loading, url, visible, trouble (troubleOf) } */
const tiles = new Map();
let shown = null;  /* the id shown alone, or null for the grid */
/* The polls of the last RATE_WINDOW_MS and one before: { time, byId }.
 * The service refreshes its figures once a second, on its own clock, so
 * two polls a second apart may be two refreshes apart or none: a rate
 * over one poll would read 0 or twice the truth. Over 5 s it is within
 * about 20%. */
const RATE_WINDOW_MS = 5000, RATE_LEAST_MS = 3000;
const polls = [];

function bytes(count) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let unit = 0;
  while (count >= 1024 && unit < units.length - 1) { count /= 1024; unit++; }
  return (unit ? count.toFixed(1) : count) + " " + units[unit];
}

function makeTile(id) {
  const tile = document.createElement("figure");
  tile.className = "tile";
  tile.dataset.camera = id;
  tile.innerHTML = '<div class="picture"><img alt=""><span class="wait">no frame yet</span></div>'
    + '<figcaption><div class="title"><span class="id"></span><span class="state"></span></div>'
    + '<dl><dt>fps</dt><dd data-field="fps"></dd>'
    + '<dt>age p95</dt><dd data-field="age"></dd>'
    + '<dt>dropped</dt><dd data-field="dropped"></dd>'
    + '<dt>memory</dt><dd data-field="memory"></dd></dl>'
    + '<div class="error"></div></figcaption>';
  tile.querySelector(".id").textContent = id;
  tile.title = "click: " + id + " alone, full size";
  const entry = { id, tile, image: tile.querySelector("img"), camera: null,
                  previous: null, timer: null, loading: false, url: null,
                  visible: false, trouble: "" };
  tile.addEventListener("click", () => show(shown === id ? null : id));
  entry.image.addEventListener("load", () => {
    tile.querySelector(".wait").hidden = true;
  });
  tiles.set(id, entry);
  return entry;
}

/* Why a camera is in trouble, from its last two API records, or "" when
 * it is not: its connection is down, the stall watchdog gave up on it
 * within the window, or its frames arrive older than its max-age (an age
 * p95 over it, or more frames dropped for age than analysed: latestframe
 * drops them before the analyses, so the age of those it hands over may
 * look fine while hardly any are). */
function troubleOf(camera, previous) {
  if (TROUBLE_STATES.has(camera.state))
    return camera.state + (camera.last_error ? ": " + camera.last_error : "");
  if (previous && camera.stalls > previous.stalls)
    return "stalled: no frame for its stall-timeout";
  if (camera.max_age_ms > 0) {
    if (camera.age_ms.p95 > camera.max_age_ms)
      return "age p95 " + Math.round(camera.age_ms.p95) + " ms, over max-age "
        + camera.max_age_ms + " ms";
    const dropped = record => (record.frames.dropped_by_reason.age || 0);
    if (previous) {
      const tooOld = dropped(camera) - dropped(previous);
      const analysed = camera.frames.analysed - previous.frames.analysed;
      if (tooOld > 0 && tooOld >= analysed)
        return tooOld + " frames older than max-age " + camera.max_age_ms
          + " ms dropped, " + analysed + " analysed";
    }
  }
  return "";
}

/* The figures of one camera from its last two API records. */
function render(entry, seconds) {
  const camera = entry.camera, previous = entry.previous;
  const tile = entry.tile;
  const field = name => tile.querySelector('[data-field="' + name + '"]');
  entry.trouble = troubleOf(camera, previous);
  const trouble = entry.trouble !== "";
  tile.classList.toggle("trouble", trouble);
  tile.dataset.state = camera.state;
  const state = tile.querySelector(".state");
  state.textContent = camera.state;
  state.classList.toggle("trouble", trouble);
  const rate = key => previous && seconds * 1000 >= RATE_LEAST_MS
    ? Math.max(0, (camera.frames[key] - previous.frames[key]) / seconds).toFixed(1)
    : "–";
  field("fps").textContent = rate("received") + " received, " + rate("analysed") + " analysed";
  field("age").textContent = Math.round(camera.age_ms.p95) + " ms";
  field("dropped").textContent = camera.frames.dropped;
  field("memory").textContent = bytes(camera.bytes.held) + " held, "
    + bytes(camera.bytes.in_flight) + " in flight";
  tile.querySelector(".error").textContent = entry.trouble;
}

function snapshotUrl(entry) {
  const path = "/cameras/" + encodeURIComponent(entry.id) + "/latest.jpg?boxes=1";
  if (shown === entry.id)
    return path;  /* full size */
  /* width may not exceed the frame's: the API refuses it. */
  const width = entry.camera && entry.camera.video.width;
  return width ? path + "&width=" + Math.min(THUMBNAIL_WIDTH, width) : null;
}

/* Loads the tile's next snapshot if it is due and in view; schedules the
 * one after a second after this one ended, loaded or not. */
async function refresh(entry) {
  entry.timer = null;
  const url = snapshotUrl(entry);
  const wanted = shown === null ? entry.visible : shown === entry.id;
  if (entry.loading || !url || !wanted || document.hidden) {
    schedule(entry);
    return;
  }
  entry.loading = true;
  try {
    const answer = await fetch(url, { cache: "no-store" });
    if (answer.ok) {
      const blob = await answer.blob();
      const old = entry.url;
      entry.url = URL.createObjectURL(blob);
      entry.image.src = entry.url;
      await entry.image.decode().catch(() => {});
      if (old) URL.revokeObjectURL(old);
    }
  } catch (error) {
    /* The service is away: the API poll says so; try again later. */
  } finally {
    entry.loading = false;
    schedule(entry);
  }
}

function schedule(entry) {
  if (!entry.timer && tiles.get(entry.id) === entry)
    entry.timer = setTimeout(() => refresh(entry), REFRESH_MS);
}

const inView = new IntersectionObserver(seen => {
  for (const item of seen) {
    const entry = tiles.get(item.target.dataset.camera);
    if (!entry) continue;
    entry.visible = item.isIntersecting;
    /* Scrolled into view (or just made) with no picture yet: now, not
     * at the next turn. */
    if (entry.visible && !entry.url && !entry.loading) {
      clearTimeout(entry.timer);
      refresh(entry);
    }
  }
});

function show(id) {
  shown = id;
  grid.hidden = id !== null;
  single.hidden = id === null;
  for (const entry of tiles.values()) {
    const parent = entry.id === id ? single : grid;
    if (entry.tile.parentNode !== parent) {
      /* Back in the grid in the configuration file's order. */
      if (parent === grid) {
        const next = [...tiles.keys()].slice([...tiles.keys()].indexOf(entry.id) + 1)
          .map(other => tiles.get(other).tile).find(tile => tile.parentNode === grid);
        grid.insertBefore(entry.tile, next || null);
      } else {
        parent.appendChild(entry.tile);
      }
    }
  }
  if (id !== null) {
    const entry = tiles.get(id);
    clearTimeout(entry.timer);
    entry.timer = null;
    refresh(entry);
  }
}

document.addEventListener("keydown", event => {
  if (event.key === "Escape" && shown !== null) show(null);
});

function update(list) {
  const now = performance.now();
  while (polls.length > 1 && now - polls[1].time >= RATE_WINDOW_MS)
    polls.shift();
  const base = polls[0];
  const seconds = base ? (now - base.time) / 1000 : 0;
  const seen = new Set();
  for (const camera of list.cameras) {
    seen.add(camera.id);
    let entry = tiles.get(camera.id);
    if (!entry) {
      entry = makeTile(camera.id);
      grid.appendChild(entry.tile);
      /* Its first snapshot when the observer sees it in view. */
      inView.observe(entry.tile);
    }
    entry.previous = base && base.byId.get(camera.id) || null;
    entry.camera = camera;
    render(entry, seconds);
  }
  /* A camera removed by a reload goes from the page. */
  for (const [id, entry] of tiles) {
    if (!seen.has(id)) {
      clearTimeout(entry.timer);
      inView.unobserve(entry.tile);
      entry.tile.remove();
      if (entry.url) URL.revokeObjectURL(entry.url);
      tiles.delete(id);
      if (shown === id) show(null);
    }
  }
  polls.push({ time: now, byId: new Map(list.cameras.map(c => [c.id, c])) });
  const troubled = list.cameras.filter(c => tiles.get(c.id).trouble).length;
  const summary = document.getElementById("summary");
  summary.textContent = list.cameras.length + " cameras"
    + (troubled ? ", " + troubled + " in trouble" : ", none in trouble");
  summary.classList.toggle("trouble", troubled > 0);
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
}

/* One poll at a time: the next a second after the last answered. */
async function poll() {
  try {
    const answer = await fetch("/api/cameras", { cache: "no-store" });
    if (answer.ok)
      update(await answer.json());
    else
      document.getElementById("summary").textContent = "/api/cameras: " + answer.status;
  } catch (error) {
    const summary = document.getElementById("summary");
    summary.textContent = "the service does not answer";
    summary.classList.add("trouble");
  }
  setTimeout(poll, REFRESH_MS);
}
poll();
</script>
</body>
</html>
)html";

/* The Content-Security-Policy sent with the page: it may load nothing but
 * the service's own API and its own blob: snapshots, so that a mistake in
 * the page cannot leak a request outside the service. */
inline constexpr std::string_view status_page_policy
    = "default-src 'none'; connect-src 'self'; img-src 'self' blob:; "
      "style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
      "base-uri 'none'; form-action 'none'";

} // namespace latestframe::service
