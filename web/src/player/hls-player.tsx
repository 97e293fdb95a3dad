// The video player for live channels, VODs and the dashboard preview: hls.js with LL-HLS on by
// default, a quality menu built from `hls.levels`, a DVR seek bar over the seekable range with a
// "go live" button, the live latency readout, volume and fullscreen (the bar is player-controls.tsx),
// and a "reconnecting…" overlay while playback stalls (the streamer may come back within the
// reconnect window). A live stream with a WHEP endpoint can also play in "Real-time" over WebRTC
// (whep-client.ts); when that is refused or fails, the player falls back to LL-HLS by itself and
// says so in one line.
import type Hls from 'hls.js';
import type { ErrorData, Level } from 'hls.js';
import { useCallback, useEffect, useRef, useState } from 'react';
import { readToken } from '../api/client.ts';
import { bufferedEndAt, cushionRate, liveResyncTarget, stallNudgeTarget } from './live-resync.ts';
import { loadHls } from './load-hls.ts';
import { PlayerControls, type SeekRange } from './player-controls.tsx';
import { describeWhepFailure, type WhepFailure, WhepPlayback } from './whep-client.ts';

/** Marked once per page on the first `playing` event: navigation start → first frame. */
export const FIRST_FRAME_MARK = 'edgestream:first-playing';

export type PlayerLevel = { index: number; label: string; bitrate: number; fps: number | undefined };

export type PlayerStats = {
  levels: PlayerLevel[];
  playingLevel: number;
  latencySeconds: number | undefined;
  bandwidthEstimate: number | undefined;
  droppedFrames: number | undefined;
};

type HlsPlayerProps = {
  src: string;
  live: boolean;
  /** Start muted (dashboard preview); viewers start with sound where the browser allows it. */
  muted?: boolean;
  /** How long a stalled live stream shows "reconnecting…" before the player gives up. */
  reconnectWindowSeconds?: number;
  onStats?: (stats: PlayerStats) => void;
  onTime?: (seconds: number) => void;
  onEnded?: () => void;
  /** Told when the video starts or stops playing (the watch page's presence signal). */
  onPlayingChange?: (playing: boolean) => void;
  /** A seek asked for from outside the player (a VOD chapter); a new `id` seeks again to the same place. */
  seekRequest?: { seconds: number; id: number } | undefined;
  /** The stream's WHEP endpoint (live only): offers the "Real-time" mode. */
  whepUrl?: string | undefined;
};

/** Where the viewer's choice of real-time playback is remembered (like a volume, per browser). */
const REALTIME_KEY = 'edgestream.realtime';

function readRealtimePreference(): boolean {
  try {
    return window.localStorage.getItem(REALTIME_KEY) === '1';
  } catch {
    return false;
  }
}

function writeRealtimePreference(on: boolean): void {
  try {
    if (on) window.localStorage.setItem(REALTIME_KEY, '1');
    else window.localStorage.removeItem(REALTIME_KEY);
  } catch {
    // Storage refused (private mode, quota): the choice holds for this page only.
  }
}

// A stall shorter than this is ordinary buffering; longer reads as the stream having dropped.
const STALL_OVERLAY_DELAY_MS = 1500;
// Within this distance of the live edge the player counts as live (one LL-HLS hold-back).
const LIVE_EDGE_TOLERANCE_SECONDS = 3;
const NETWORK_RETRY_MS = 2000;
/** After a jump back to live, hls.js's latency needs a moment to reflect it: no second jump sooner. */
const RESYNC_COOLDOWN_MS = 3000;
/** How often the playhead is checked for standing still with media ahead (stallNudgeTarget). */
const NUDGE_CHECK_MS = 100;
/** hls.js's catch-up in low-latency mode: up to 1.5x towards its target latency. */
const LIVE_CATCH_UP_RATE = 1.5;
/** At most one nudge per this long: one that did not help is not repeated at once. */
const NUDGE_COOLDOWN_MS = 500;
const AD_ASSET_LIST = /^\/api\/v1\/payments\/ad-breaks\/[^/]+\/asset-list$/;

export function HlsPlayer({
  src,
  live,
  muted = false,
  reconnectWindowSeconds = 60,
  onStats,
  onTime,
  onEnded,
  onPlayingChange,
  seekRequest,
  whepUrl,
}: HlsPlayerProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const videoRef = useRef<HTMLVideoElement>(null);
  const hlsRef = useRef<Hls | null>(null);
  const selectedLevelRef = useRef(-1);
  const [lowLatency, setLowLatency] = useState(true);
  // Offered for a live stream with a WHEP endpoint, in a browser with WebRTC.
  const realtimeOffered = live && whepUrl !== undefined && typeof RTCPeerConnection !== 'undefined';
  const [realtime, setRealtime] = useState(() => realtimeOffered && readRealtimePreference());
  const [fallback, setFallback] = useState<WhepFailure | null>(null);
  const playRealtime = realtimeOffered && realtime;
  const [levels, setLevels] = useState<PlayerLevel[]>([]);
  const [selectedLevel, setSelectedLevel] = useState(-1);
  const [playingLevel, setPlayingLevel] = useState(-1);
  const [latency, setLatency] = useState<number | undefined>(undefined);
  const [range, setRange] = useState<SeekRange>({ start: 0, end: 0, current: 0 });
  const [paused, setPaused] = useState(true);
  const [volume, setVolume] = useState(1);
  const [isMuted, setIsMuted] = useState(muted);
  const [stalled, setStalled] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [fatalErrors, setFatalErrors] = useState(0);
  const [hlsState, setHlsState] = useState<HlsState | null>(null);
  // Following the live edge: false once the viewer rewinds, pauses or picks a chapter, true again
  // on Go live (live-resync.ts brings a following viewer back after a stall).
  const followingLiveRef = useRef(true);
  const statsRef = useRef({ onStats, onTime, onEnded, onPlayingChange });
  statsRef.current = { onStats, onTime, onEnded, onPlayingChange };

  useEffect(() => {
    const video = videoRef.current;
    if (!video || !seekRequest) return;
    followingLiveRef.current = false;
    video.currentTime = seekRequest.seconds;
  }, [seekRequest]);

  useEffect(() => {
    const video = videoRef.current;
    if (video === null) return;
    setFailure(null);
    setLevels([]);
    let stallTimer = 0;
    let networkRetryTimer = 0;
    let stalledSince: number | null = null;
    let lastResyncAt = 0;
    // The stall nudge's watch (stallNudgeTarget): where the playhead was, since when, the last nudge.
    let started = false;
    let watchedTime = -1;
    let watchedSince = Date.now();
    let lastNudgeAt = 0;
    let nudges = 0;
    let nudgedTo = 0;
    // Whether the thin-buffer rule (cushionRate) has the stream slowed, with hls.js's rate control off.
    let slowed = false;
    followingLiveRef.current = true;

    const keepCushion = (player: Hls) => {
      const rate = cushionRate({
        following: followingLiveRef.current && player.latestLevelDetails?.live !== false,
        paused: video.paused,
        seeking: video.seeking,
        interstitial: player.interstitialsManager?.playingItem?.event !== undefined,
        bufferAhead: bufferedEndAt(video) - video.currentTime,
        slowed,
      });
      if (rate !== null) {
        // At 1 hls.js leaves the rate alone (it would otherwise set it back to 1 on every timeupdate).
        player.config.maxLiveSyncPlaybackRate = 1;
        if (video.playbackRate !== rate) video.playbackRate = rate;
        slowed = true;
      } else if (slowed) {
        slowed = false;
        video.playbackRate = 1;
        player.config.maxLiveSyncPlaybackRate = LIVE_CATCH_UP_RATE;
      }
    };

    const startPlayback = () => {
      video.play().catch(() => {
        // Browsers refuse unmuted autoplay without a gesture; muted autoplay is always allowed.
        video.muted = true;
        setIsMuted(true);
        video.play().catch(() => setPaused(true));
      });
    };

    const onPlaying = () => {
      window.clearTimeout(stallTimer);
      started = true;
      stalledSince = null;
      setStalled(false);
      setPaused(false);
      statsRef.current.onPlayingChange?.(true);
      if (performance.getEntriesByName(FIRST_FRAME_MARK).length === 0) performance.mark(FIRST_FRAME_MARK);
    };
    const onWaiting = () => {
      window.clearTimeout(stallTimer);
      stallTimer = window.setTimeout(() => {
        stalledSince ??= Date.now();
        setStalled(true);
      }, STALL_OVERLAY_DELAY_MS);
    };
    const onPause = () => {
      setPaused(true);
      statsRef.current.onPlayingChange?.(false);
    };
    const onEndedEvent = () => {
      statsRef.current.onPlayingChange?.(false);
      statsRef.current.onEnded?.();
    };
    video.addEventListener('playing', onPlaying);
    video.addEventListener('waiting', onWaiting);
    video.addEventListener('pause', onPause);
    video.addEventListener('ended', onEndedEvent);

    let hls: Hls | null = null;
    let whep: WhepPlayback | null = null;
    let disposed = false;
    const leaveWhep = () => void whep?.stop(true);
    const attach = (HlsPlayerClass: typeof Hls | null) => {
      if (disposed) return;
      if (HlsPlayerClass === null || src.endsWith('.mp4') || !HlsPlayerClass.isSupported()) {
        // Progressive MP4 (clips, some VODs), or Safari/iOS, which plays HLS natively.
        video.src = src;
        startPlayback();
        return;
      }
      const player = new HlsPlayerClass({
        lowLatencyMode: lowLatency,
        // Low latency: let hls.js play up to 1.5x to get back to its target after a start-up or a
        // stall; at its default of 1x a player stays as far behind as it started (measured 2-4 s
        // behind against 1.1 s with catch-up, docs/benchmarks.md). It never plays slower: a thin
        // buffer is the cushion rule's (keepCushion). Standard latency: three target durations
        // behind the edge, as HLS players default to.
        ...(lowLatency ? { maxLiveSyncPlaybackRate: LIVE_CATCH_UP_RATE } : { liveSyncDurationCount: 3 }),
        backBufferLength: live ? 90 : Number.POSITIVE_INFINITY,
        // Ad breaks are HLS interstitials; their asset list (docs/payments.md, "Ads") is empty for a
        // subscriber, so it alone carries the viewer's token: playlists and media stay anonymous
        // and cacheable.
        xhrSetup: (xhr, url) => {
          const token = readToken();
          if (token === null || !AD_ASSET_LIST.test(new URL(url, location.href).pathname)) return;
          xhr.open('GET', url, true);
          xhr.setRequestHeader('Authorization', `Bearer ${token}`);
        },
      });
      hls = player;
      hlsRef.current = player;
      const { Events, ErrorTypes } = HlsPlayerClass;
      player.on(Events.MANIFEST_PARSED, () => {
        setLevels(player.levels.map(describeLevel));
        if (selectedLevelRef.current >= player.levels.length) selectedLevelRef.current = -1;
        player.currentLevel = selectedLevelRef.current;
        startPlayback();
      });
      player.on(Events.LEVEL_SWITCHED, (_event, data) => setPlayingLevel(data.level));
      player.on(Events.ERROR, (_event, data: ErrorData) => {
        if (!data.fatal) return;
        setFatalErrors((n) => n + 1);
        if (data.type === ErrorTypes.MEDIA_ERROR) {
          player.recoverMediaError();
          return;
        }
        stalledSince ??= Date.now();
        const withinWindow = live && Date.now() - stalledSince < reconnectWindowSeconds * 1000;
        if (data.type === ErrorTypes.NETWORK_ERROR && withinWindow) {
          // The origin answers again once the streamer reconnects: keep asking until the window ends.
          setStalled(true);
          window.clearTimeout(networkRetryTimer);
          networkRetryTimer = window.setTimeout(() => player.startLoad(-1), NETWORK_RETRY_MS);
          return;
        }
        setStalled(false);
        setFailure(live ? 'The stream went offline.' : 'This video could not be played.');
        player.destroy();
        if (live) statsRef.current.onEnded?.();
      });
      player.loadSource(src);
      player.attachMedia(video);
    };
    if (playRealtime && whepUrl !== undefined) {
      // Real-time: the <video> plays the PeerConnection's MediaStream; on any failure the session
      // is already closed and the player switches to LL-HLS (this effect runs again).
      whep = new WhepPlayback({
        whepUrl,
        video,
        onStream: startPlayback,
        onFailure: (failure) => {
          if (disposed) return;
          setFallback(failure);
          setLowLatency(true);
          setRealtime(false);
        },
      });
      void whep.start();
      window.addEventListener('pagehide', leaveWhep);
    } else if (src.endsWith('.mp4')) attach(null);
    else
      loadHls().then(attach, () => {
        if (!disposed) setFailure('The player could not be loaded.');
      });

    const nudgeWatch = window.setInterval(() => {
      if (!hls) return;
      if (live && lowLatency) keepCushion(hls);
      const now = Date.now();
      // Played 1 s on its own since the last nudge: the next stall starts a fresh count.
      if (nudges > 0 && video.currentTime >= nudgedTo + 1) nudges = 0;
      // A pause, a seek or a halted element is not a stall: the watch starts again with playback.
      const halted = video.paused || video.seeking || video.ended || video.playbackRate === 0;
      if (halted || video.currentTime !== watchedTime) {
        watchedTime = video.currentTime;
        watchedSince = now;
        return;
      }
      if (now - lastNudgeAt < NUDGE_COOLDOWN_MS) return;
      const target = stallNudgeTarget({
        started,
        paused: video.paused,
        seeking: video.seeking,
        interstitial: hls.interstitialsManager?.playingItem?.event !== undefined,
        stuckMs: now - watchedSince,
        nudges,
        currentTime: video.currentTime,
        bufferedEnd: bufferedEndAt(video),
      });
      if (target === null) return;
      lastNudgeAt = now;
      nudges += 1;
      nudgedTo = target;
      video.currentTime = target;
    }, NUDGE_CHECK_MS);

    const ticker = window.setInterval(() => {
      const seekable = video.seekable;
      const start = seekable.length > 0 ? seekable.start(0) : 0;
      const end =
        seekable.length > 0
          ? seekable.end(seekable.length - 1)
          : Number.isFinite(video.duration)
            ? video.duration
            : 0; // a MediaStream (real-time) has an infinite duration and nothing seekable
      setRange({ start, end, current: video.currentTime });
      statsRef.current.onTime?.(video.currentTime);
      const currentLatency = hls && live ? hls.latency : undefined;
      setLatency(
        currentLatency !== undefined && Number.isFinite(currentLatency) ? currentLatency : undefined,
      );
      setHlsState(hls ? readHlsState(hls) : null);
      if (hls && live && currentLatency !== undefined && Date.now() - lastResyncAt > RESYNC_COOLDOWN_MS) {
        const target = liveResyncTarget({
          following: followingLiveRef.current,
          paused: video.paused,
          interstitial: hls.interstitialsManager?.playingItem?.event !== undefined,
          latency: currentLatency,
          targetLatency: hls.targetLatency,
          liveSyncPosition: hls.liveSyncPosition,
          targetDuration: hls.latestLevelDetails?.targetduration ?? 0,
          bufferedEnd: bufferedEndAt(video),
        });
        if (target !== null) {
          lastResyncAt = Date.now();
          video.currentTime = target;
        }
      }
      if (hls && statsRef.current.onStats) {
        statsRef.current.onStats({
          levels: hls.levels.map(describeLevel),
          playingLevel: hls.currentLevel,
          latencySeconds: currentLatency,
          bandwidthEstimate: Number.isFinite(hls.bandwidthEstimate) ? hls.bandwidthEstimate : undefined,
          droppedFrames: video.getVideoPlaybackQuality?.().droppedVideoFrames,
        });
      }
    }, 500);

    return () => {
      disposed = true;
      window.clearInterval(ticker);
      window.clearInterval(nudgeWatch);
      // The element outlives this player (a switch to standard latency or real-time reuses it).
      if (slowed) video.playbackRate = 1;
      window.clearTimeout(stallTimer);
      window.clearTimeout(networkRetryTimer);
      video.removeEventListener('playing', onPlaying);
      video.removeEventListener('waiting', onWaiting);
      video.removeEventListener('pause', onPause);
      video.removeEventListener('ended', onEndedEvent);
      hls?.destroy();
      if (hlsRef.current === hls) hlsRef.current = null;
      window.removeEventListener('pagehide', leaveWhep);
      void whep?.stop();
      if (whep) video.srcObject = null;
      else if (!hls) video.removeAttribute('src');
    };
  }, [src, live, lowLatency, reconnectWindowSeconds, playRealtime, whepUrl]);

  const chooseRealtime = (on: boolean) => {
    writeRealtimePreference(on);
    setFallback(null);
    setRealtime(on);
  };

  const toggleLowLatency = () => {
    // From real-time, the latency button goes back to LL-HLS (its pressed state).
    if (playRealtime) {
      chooseRealtime(false);
      setLowLatency(true);
    } else setLowLatency((value) => !value);
  };

  const chooseLevel = (index: number) => {
    selectedLevelRef.current = index;
    setSelectedLevel(index);
    const hls = hlsRef.current;
    if (hls) hls.currentLevel = index;
  };

  const togglePlay = () => {
    const video = videoRef.current;
    if (!video) return;
    if (video.paused) video.play().catch(() => setPaused(true));
    else {
      followingLiveRef.current = false;
      video.pause();
    }
  };

  const goLive = useCallback(() => {
    const video = videoRef.current;
    if (!video) return;
    const target = hlsRef.current?.liveSyncPosition ?? range.end;
    followingLiveRef.current = true;
    if (target > 0) video.currentTime = target;
    if (video.paused) video.play().catch(() => setPaused(true));
  }, [range.end]);

  const toggleFullscreen = () => {
    const container = containerRef.current;
    if (!container) return;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
    else container.requestFullscreen().catch(() => undefined);
  };

  const changeVolume = (value: number) => {
    const video = videoRef.current;
    if (!video) return;
    video.volume = value;
    video.muted = value === 0;
    setVolume(value);
    setIsMuted(value === 0);
  };

  const toggleMute = () => {
    const video = videoRef.current;
    if (!video) return;
    video.muted = !video.muted;
    setIsMuted(video.muted);
  };

  const seek = (position: number) => {
    // A seek to the edge (the bar's end) keeps following live; anywhere else is DVR playback.
    followingLiveRef.current = range.end - position <= LIVE_EDGE_TOLERANCE_SECONDS;
    const video = videoRef.current;
    if (video) video.currentTime = position;
    // The bar is controlled by the 500 ms ticker's playhead: without this the next render puts the
    // thumb back where the playhead was, so a second key press (PageDown, arrows) within the tick
    // starts from the old position and the presses never add up.
    setRange((previous) => ({ ...previous, current: position }));
  };

  const behindLive = !playRealtime && live && range.end - range.current > LIVE_EDGE_TOLERANCE_SECONDS;
  const autoLabel = playRealtime
    ? 'Source'
    : selectedLevel === -1 && playingLevel >= 0 && levels[playingLevel]
      ? `Auto (${levels[playingLevel].label})`
      : 'Auto';

  return (
    <div
      ref={containerRef}
      className="player"
      data-state={failure ? 'failed' : stalled ? 'stalled' : paused ? 'paused' : 'playing'}
      data-fatal-errors={fatalErrors}
      data-low-latency={live ? String(lowLatency && !playRealtime) : undefined}
      data-transport={live ? (playRealtime ? 'webrtc' : 'hls') : undefined}
      data-realtime-fallback={fallback ?? undefined}
      data-hls-level={hlsState?.level}
      data-hls-load-level={hlsState?.loadLevel}
      data-hls-auto-level={hlsState ? String(hlsState.autoLevel) : undefined}
      data-hls-latency={hlsState?.latency}
    >
      <video
        ref={videoRef}
        className="player-video"
        playsInline
        muted={isMuted}
        onClick={togglePlay}
        onVolumeChange={(event) => setIsMuted(event.currentTarget.muted)}
      />
      {stalled && !failure ? (
        <div className="player-overlay" role="status">
          <span className="spinner" aria-hidden="true" />
          Reconnecting…
        </div>
      ) : null}
      {failure ? (
        <div className="player-overlay" role="alert">
          {failure}
        </div>
      ) : null}
      {fallback && !failure ? (
        <p className="player-notice" role="status">
          {describeWhepFailure(fallback)}
        </p>
      ) : null}
      <PlayerControls
        live={live}
        paused={paused}
        muted={isMuted}
        volume={volume}
        range={range}
        behindLive={behindLive}
        latency={latency}
        lowLatency={lowLatency && !playRealtime}
        realtime={realtimeOffered ? playRealtime : undefined}
        levels={levels}
        selectedLevel={selectedLevel}
        autoLabel={autoLabel}
        onTogglePlay={togglePlay}
        onToggleMute={toggleMute}
        onVolume={changeVolume}
        onSeek={seek}
        onGoLive={goLive}
        onToggleLowLatency={toggleLowLatency}
        onToggleRealtime={() => chooseRealtime(!playRealtime)}
        onChooseLevel={chooseLevel}
        onToggleFullscreen={toggleFullscreen}
      />
    </div>
  );
}

/**
 * hls.js's own view of playback, mirrored onto the player element as `data-hls-*` (refreshed with
 * the 500 ms ticker) so browser tests and support can read which level plays without reaching into
 * the page's modules: `level` is the level playing (-1 before the first), `loadLevel` the one being
 * fetched, `autoLevel` whether ABR chooses, `latency` seconds behind the live edge (live only).
 */
type HlsState = { level: number; loadLevel: number; autoLevel: boolean; latency: string | undefined };

function readHlsState(hls: Hls): HlsState {
  const latency = hls.latency;
  return {
    level: hls.currentLevel,
    loadLevel: hls.loadLevel,
    autoLevel: hls.autoLevelEnabled,
    latency: Number.isFinite(latency) && latency > 0 ? latency.toFixed(2) : undefined,
  };
}

function describeLevel(level: Level, index: number): PlayerLevel {
  const fps = level.frameRate > 0 ? level.frameRate : undefined;
  const label =
    level.height > 0
      ? `${level.height}p${fps && fps > 30 ? Math.round(fps) : ''}`
      : `Audio only (${Math.round(level.bitrate / 1000)} kbps)`;
  return { index, label, bitrate: level.bitrate, fps };
}
