// Plays one HLS URL with hls.js in Debian's headless Chromium and prints a
// JSON summary of what the player saw on stdout.
//
//   node tests/browser/play.mjs URL SECONDS [--startup-timeout S] [--switch-level lowest|highest|N]
//
// --switch-level (multivariant playlists): 2 s after the video starts, sets
// hls.currentLevel to that level (by index, or the lowest / highest by
// height) and records the LEVEL_SWITCHED events and every buffered
// fragment's level (summary: levels, switch_requested, level_switches,
// frag_levels).
//
// A static server on 127.0.0.1 (an ephemeral port, so the page's origin is
// not the HLS server's: every playlist and segment request is cross-origin,
// as for a player embedded in someone's site) serves a tiny page and hls.js
// from node_modules. The page plays URL muted, with autoplay; once the video
// element fires `playing`, the script lets it play SECONDS more, then reads
// the page's record.
//
// The script only observes; the caller judges. Exit codes: 0 the summary
// was printed (whatever it says), 2 bad arguments, 3 the harness itself
// failed (browser did not start, page did not load) - the summary then has
// "harness_error".
//
// Environment: CHROMIUM (default /usr/bin/chromium, Debian's package;
// playwright-core never downloads a browser).
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const HLS_JS = path.join(HERE, 'node_modules', 'hls.js', 'dist', 'hls.js');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Flags from the machine notes: without the background-networking ones
// Chromium keeps trying to reach Google's hosts on a closed network. The
// autoplay policy lets play() start without a user gesture.
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required', '--mute-audio',
];

// The page keeps everything in window.__rec; the node side only reads it.
// Times are ms since navigation start (performance.now()).
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>onair hls.js playback</title></head>
<body>
<video id="v" muted autoplay playsinline width="640" height="360"></video>
<script src="/hls.js"></script>
<script>
(function () {
  const rec = window.__rec = {
    hls_version: (window.Hls && Hls.version) || null,
    hls_supported: !!(window.Hls && Hls.isSupported()),
    mse_h264_aac: !!(window.MediaSource &&
      MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"')),
    events: [],      // hls.js events of interest
    errors: [],      // hls.js ERROR events (fatal or not)
    media: [],       // video element events
    samples: [],     // periodic currentTime / buffer readings
    first_playing_ms: null,
    play_rejected: null,
  };
  const now = () => Math.round(performance.now());
  const v = document.getElementById('v');
  const url = new URLSearchParams(location.search).get('src');
  const switchTo = new URLSearchParams(location.search).get('switch');
  rec.level_switches = [];
  rec.switch_requested = null;

  for (const ev of ['loadedmetadata', 'loadeddata', 'canplay', 'playing', 'waiting',
                    'stalled', 'seeking', 'seeked', 'pause', 'ended', 'error', 'resize']) {
    v.addEventListener(ev, () => {
      const e = { ev, t: now(), ct: v.currentTime, rs: v.readyState };
      if (ev === 'error' && v.error) e.code = v.error.code, e.message = v.error.message;
      if (ev === 'resize') e.w = v.videoWidth, e.h = v.videoHeight;
      rec.media.push(e);
      if (ev === 'playing' && rec.first_playing_ms === null) {
        rec.first_playing_ms = e.t;
        if (switchTo !== null) setTimeout(switchLevel, 2000);
      }
    });
  }

  function buffered() {
    const r = [];
    for (let i = 0; i < v.buffered.length; i++)
      r.push([+v.buffered.start(i).toFixed(3), +v.buffered.end(i).toFixed(3)]);
    return r;
  }
  rec.played = () => {
    let total = 0;
    for (let i = 0; i < v.played.length; i++) total += v.played.end(i) - v.played.start(i);
    return total;
  };
  rec.snapshot = () => {
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
    return {
      t: now(), ct: v.currentTime, rs: v.readyState, paused: v.paused,
      w: v.videoWidth, h: v.videoHeight, buffered: buffered(), played: rec.played(),
      frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
      // hls.js's live latency (s behind the live edge) and the target it
      // derives from the playlist (PART-HOLD-BACK for LL-HLS)
      latency: window.__hls ? window.__hls.latency : null,
      target_latency: window.__hls ? window.__hls.targetLatency : null,
    };
  };
  setInterval(() => rec.samples.push(rec.snapshot()), 250);

  function switchLevel() {
    const hls = window.__hls;
    const hs = hls.levels.map((l) => l.height);
    let to = Number(switchTo);
    if (switchTo === 'lowest') to = hs.indexOf(Math.min(...hs));
    if (switchTo === 'highest') to = hs.indexOf(Math.max(...hs));
    rec.switch_requested = { t: now(), from: hls.currentLevel, to, height: hs[to] };
    hls.currentLevel = to;
  }
  if (!rec.hls_supported) { rec.setup_error = 'Hls.isSupported() is false (no MSE?)'; return; }
  const hls = new Hls({ debug: false, enableWorker: true });
  window.__hls = hls;
  const E = Hls.Events;
  hls.on(E.MANIFEST_PARSED, (_, d) => {
    rec.events.push({ ev: 'MANIFEST_PARSED', t: now(), levels: d.levels.length,
      codecs: d.levels.map((l) => [l.videoCodec, l.audioCodec]),
      heights: d.levels.map((l) => l.height) });
    v.play().catch((e) => { rec.play_rejected = String(e); });
  });
  hls.on(E.LEVEL_LOADING, (_, d) => {
    rec.events.push({ ev: 'LEVEL_LOADING', t: now(), blocking: /[?&]_HLS_msn=/.test(d.url) });
  });
  hls.on(E.LEVEL_LOADED, (_, d) => {
    const det = d.details;
    rec.events.push({ ev: 'LEVEL_LOADED', t: now(), live: det.live, target: det.targetduration,
      frags: det.fragments.length, start_sn: det.startSN, end_sn: det.endSN,
      fmp4: !!det.fragments.find((f) => f.initSegment),
      // LL-HLS as hls.js read it: parts listed, PART-TARGET, CAN-BLOCK-RELOAD
      parts: det.partList ? det.partList.length : 0, part_target: det.partTarget || 0,
      can_block_reload: !!det.canBlockReload });
  });
  hls.on(E.FRAG_BUFFERED, (_, d) => {
    rec.events.push({ ev: 'FRAG_BUFFERED', t: now(), type: d.frag.type, sn: d.frag.sn,
      start: +d.frag.start.toFixed(3), dur: +d.frag.duration.toFixed(3), level: d.frag.level,
      part: d.part ? d.part.index : null });
  });
  hls.on(E.LEVEL_SWITCHED, (_, d) => {
    rec.level_switches.push({ t: now(), level: d.level });
  });
  hls.on(E.ERROR, (_, d) => {
    const e = { ev: 'ERROR', t: now(), type: d.type, details: d.details, fatal: !!d.fatal };
    if (d.reason) e.reason = d.reason;
    if (d.error) e.error = String(d.error && (d.error.message || d.error));
    if (d.response) e.response = { code: d.response.code, text: d.response.text };
    if (d.context && d.context.url) e.url = d.context.url;
    if (d.frag) e.frag = { sn: d.frag.sn, url: d.frag.url };
    if (d.mimeType) e.mime = d.mimeType;
    rec.errors.push(e);
  });
  hls.loadSource(url);
  hls.attachMedia(v);
})();
</script></body></html>`;

function parseArgs(argv) {
  const args = { url: null, seconds: null, startupTimeout: 20, switchLevel: null };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--startup-timeout') args.startupTimeout = Number(argv[++i]);
    else if (argv[i] === '--switch-level') args.switchLevel = argv[++i];
    else rest.push(argv[i]);
  }
  [args.url, args.seconds] = [rest[0], Number(rest[1])];
  if (!args.url || !(args.seconds > 0) || !(args.startupTimeout > 0)) return null;
  return args;
}

function startStaticServer(hlsJs) {
  const srv = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (p === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (p === '/hls.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      res.end(hlsJs);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const median = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return +(s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2).toFixed(3);
};

// What happened between the first `playing` and the end, from the record.
function summarize(rec, final, args, wallStartMs) {
  const start = rec.first_playing_ms;
  const after = (e) => start !== null && e.t > start;
  const waits = [];
  for (const e of rec.media) {
    if (e.ev === 'waiting' && after(e)) waits.push({ t: e.t, since_start_ms: e.t - start, ct: e.ct, dur_ms: null });
    if (e.ev === 'playing' && waits.length && waits[waits.length - 1].dur_ms === null)
      waits[waits.length - 1].dur_ms = e.t - waits[waits.length - 1].t;
  }
  // A wait still open at the end lasted until the final snapshot.
  if (waits.length && waits[waits.length - 1].dur_ms === null)
    waits[waits.length - 1].dur_ms = final.t - waits[waits.length - 1].t;
  const startSample = start === null ? null : rec.samples.find((s) => s.t >= start);
  const count = (name) => rec.events.filter((e) => e.ev === name).length;
  const levels = rec.events.filter((e) => e.ev === 'LEVEL_LOADED');
  return {
    url: args.url,
    seconds: args.seconds,
    hls_version: rec.hls_version,
    hls_supported: rec.hls_supported,
    mse_h264_aac: rec.mse_h264_aac,
    setup_error: rec.setup_error || null,
    play_rejected: rec.play_rejected,
    started: start !== null,
    startup_ms: start,
    played_wall_s: start === null ? 0 : +((final.t - start) / 1000).toFixed(3),
    // Media actually played (sum of video.played ranges): seeks do not count.
    played_media_s: +final.played.toFixed(3),
    current_time_start: startSample ? startSample.ct : null,
    current_time_end: final.ct,
    current_time_advance_s: startSample ? +(final.ct - startSample.ct).toFixed(3) : 0,
    video_width: final.w,
    video_height: final.h,
    ready_state: final.rs,
    paused: final.paused,
    frames: final.frames,
    dropped_frames: final.dropped,
    buffered: final.buffered,
    manifest_parsed: count('MANIFEST_PARSED'),
    codecs: (rec.events.find((e) => e.ev === 'MANIFEST_PARSED') || {}).codecs || null,
    level_loaded: levels.length,
    level: levels.length ? levels[levels.length - 1] : null,
    frag_buffered: count('FRAG_BUFFERED'),
    // LL-HLS: parts hls.js loaded and buffered, blocking playlist reloads
    parts_buffered: rec.events.filter((e) => e.ev === 'FRAG_BUFFERED' && e.part !== null).length,
    level_loading: count('LEVEL_LOADING'),
    blocking_reloads: rec.events.filter((e) => e.ev === 'LEVEL_LOADING' && e.blocking).length,
    latency_s: final.latency === null ? null : +final.latency.toFixed(3),
    // median of hls.js's latency over the samples after the first `playing`
    // (bench/playerlag.sh compares servers with it)
    latency_median_s: median(rec.samples.filter((s) => start !== null && s.t > start &&
      Number.isFinite(s.latency)).map((s) => s.latency)),
    target_latency_s: final.target_latency === null ? null : +final.target_latency.toFixed(3),
    fatal_errors: rec.errors.filter((e) => e.fatal),
    errors: rec.errors.slice(0, 20),
    error_count: rec.errors.length,
    waiting_after_start: waits,
    stalled_after_start: rec.media.filter((e) => e.ev === 'stalled' && after(e)).length,
    media_events: rec.media.slice(0, 60),
    samples: rec.samples.filter((_, i) => i % 2 === 0).map((s) => [s.t, +s.ct.toFixed(3), s.rs]),
    wall_total_ms: Date.now() - wallStartMs,
    levels: (rec.events.find((e) => e.ev === 'MANIFEST_PARSED') || {}).heights || null,
    switch_requested: rec.switch_requested,
    level_switches: rec.level_switches,
    frag_levels: rec.events.filter((e) => e.ev === 'FRAG_BUFFERED')
      .map((e) => [e.t - (start || 0), e.type, e.level, e.sn]),
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    process.stderr.write('usage: node play.mjs URL SECONDS [--startup-timeout S]\n');
    return 2;
  }
  const wallStart = Date.now();
  const out = { url: args.url, seconds: args.seconds, console: [], request_failures: [], http_errors: [] };
  let srv = null;
  let browser = null;
  try {
    srv = await startStaticServer(await readFile(HLS_JS));
    const pageUrl = `http://127.0.0.1:${srv.address().port}/?src=${encodeURIComponent(args.url)}` +
      (args.switchLevel !== null ? `&switch=${encodeURIComponent(args.switchLevel)}` : '');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    out.launch_ms = Date.now() - wallStart;
    out.browser_version = browser.version();
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (out.console.length < 40 && (m.type() === 'error' || m.type() === 'warning'))
        out.console.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => out.console.length < 40 && out.console.push(`pageerror: ${e}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && out.http_errors.length < 20)
        out.http_errors.push({ url: r.url(), status: r.status() });
    });
    page.on('requestfailed', (r) => {
      if (out.request_failures.length < 20)
        out.request_failures.push({ url: r.url(), failure: r.failure() && r.failure().errorText });
    });
    // Not 'load': a media element delays the load event until its first frame.
    await page.goto(pageUrl, { waitUntil: 'domcontentloaded', timeout: 15000 });
    out.page_loaded_ms = Date.now() - wallStart;

    // Wait for the first `playing` (or a fatal error, or the startup timeout).
    const deadline = Date.now() + args.startupTimeout * 1000;
    let rec = null;
    for (;;) {
      rec = await page.evaluate(() => ({
        first: window.__rec.first_playing_ms,
        fatal: window.__rec.errors.some((e) => e.fatal),
        setup: window.__rec.setup_error || null,
      }));
      if (rec.first !== null || rec.fatal || rec.setup || Date.now() > deadline) break;
      await sleep(100);
    }
    out.startup_timed_out = rec.first === null && !rec.fatal && !rec.setup;
    if (rec.first !== null) {
      // Play for SECONDS of wall time after `playing`, stopping early only on
      // a fatal error (nothing more would happen).
      const end = Date.now() + args.seconds * 1000;
      while (Date.now() < end) {
        await sleep(Math.min(250, end - Date.now()));
        if (await page.evaluate(() => window.__rec.errors.some((e) => e.fatal))) break;
      }
    }
    const full = await page.evaluate(() => {
      const r = window.__rec;
      return { ...r, played: undefined, snapshot: undefined, final: r.snapshot() };
    });
    Object.assign(out, summarize(full, full.final, args, wallStart));
    process.stdout.write(JSON.stringify(out) + '\n');
    return 0;
  } catch (e) {
    out.harness_error = String((e && e.stack) || e);
    process.stdout.write(JSON.stringify(out) + '\n');
    return 3;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (srv) srv.close();
  }
}

process.exitCode = await main();
