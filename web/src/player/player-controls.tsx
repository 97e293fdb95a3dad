// The player's control bar: play/pause, mute and volume, the seek bar (the DVR window when live),
// "go live" with the latency readout, the low-latency toggle and the real-time (WebRTC) toggle
// (live), the clock (VOD), the quality
// menu and fullscreen. Stateless but for whether the page is fullscreen: HlsPlayer owns playback
// and passes what to show and what to call. Icons are inline SVG (components/icons.tsx); every
// button's accessible name is its aria-label.
import { useEffect, useState } from 'react';
import {
  ExitFullscreenIcon,
  FullscreenIcon,
  LiveDotIcon,
  MutedIcon,
  PauseIcon,
  PlayIcon,
  VolumeIcon,
} from '../components/icons.tsx';
import type { PlayerLevel } from './hls-player.tsx';

export type SeekRange = { start: number; end: number; current: number };

type PlayerControlsProps = {
  live: boolean;
  paused: boolean;
  muted: boolean;
  volume: number;
  range: SeekRange;
  behindLive: boolean;
  latency: number | undefined;
  lowLatency: boolean;
  /** Whether real-time (WHEP) playback is on; undefined when the stream offers none. */
  realtime: boolean | undefined;
  levels: PlayerLevel[];
  selectedLevel: number;
  autoLabel: string;
  onTogglePlay: () => void;
  onToggleMute: () => void;
  onVolume: (value: number) => void;
  onSeek: (position: number) => void;
  onGoLive: () => void;
  onToggleLowLatency: () => void;
  onToggleRealtime: () => void;
  onChooseLevel: (index: number) => void;
  onToggleFullscreen: () => void;
};

export function PlayerControls(props: PlayerControlsProps) {
  const { live, paused, muted, volume, range, behindLive, latency, lowLatency, realtime } = props;
  const fullscreen = useFullscreen();
  const end = Math.max(range.end, range.start);
  return (
    <div className="player-controls">
      <button type="button" onClick={props.onTogglePlay} aria-label={paused ? 'Play' : 'Pause'}>
        {paused ? <PlayIcon /> : <PauseIcon />}
      </button>
      <button type="button" onClick={props.onToggleMute} aria-label={muted ? 'Unmute' : 'Mute'}>
        {muted ? <MutedIcon /> : <VolumeIcon />}
      </button>
      <input
        type="range"
        className="player-volume"
        aria-label="Volume"
        min={0}
        max={1}
        step={0.05}
        value={muted ? 0 : volume}
        onChange={(event) => props.onVolume(Number(event.target.value))}
      />
      <input
        type="range"
        className="player-seek"
        aria-label={live ? 'Rewind (DVR)' : 'Seek'}
        // Real-time playback is the live edge only: there is nothing to rewind into.
        disabled={realtime === true}
        min={range.start}
        max={end}
        step={0.1}
        value={Math.min(Math.max(range.current, range.start), end)}
        onChange={(event) => props.onSeek(Number(event.target.value))}
      />
      {live ? (
        <>
          <button
            type="button"
            className={behindLive ? 'go-live' : 'go-live at-live'}
            onClick={props.onGoLive}
            aria-label="Go live"
          >
            <LiveDotIcon className="icon-live-dot" /> Live
          </button>
          <span className="player-latency" aria-live="off" title="Time behind the broadcaster">
            {latency === undefined ? '–' : `${latency.toFixed(1)} s`}
          </span>
          <button
            type="button"
            aria-pressed={lowLatency}
            aria-label="Low latency"
            onClick={props.onToggleLowLatency}
          >
            {lowLatency || realtime ? 'LL' : 'STD'}
          </button>
          {realtime === undefined ? null : (
            <button
              type="button"
              aria-pressed={realtime}
              aria-label="Real-time"
              title="Real-time playback over WebRTC"
              onClick={props.onToggleRealtime}
            >
              RT
            </button>
          )}
        </>
      ) : (
        <span className="player-time">
          {formatClock(range.current)} / {formatClock(range.end)}
        </span>
      )}
      <select
        aria-label="Quality"
        className="player-quality"
        value={props.selectedLevel}
        onChange={(event) => props.onChooseLevel(Number(event.target.value))}
      >
        <option value={-1}>{props.autoLabel}</option>
        {props.levels.map((level) => (
          <option key={level.index} value={level.index}>
            {level.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        onClick={props.onToggleFullscreen}
        aria-label={fullscreen ? 'Exit fullscreen' : 'Fullscreen'}
      >
        {fullscreen ? <ExitFullscreenIcon /> : <FullscreenIcon />}
      </button>
    </div>
  );
}

function useFullscreen(): boolean {
  const [fullscreen, setFullscreen] = useState(false);
  useEffect(() => {
    const update = () => setFullscreen(document.fullscreenElement !== null);
    document.addEventListener('fullscreenchange', update);
    return () => document.removeEventListener('fullscreenchange', update);
  }, []);
  return fullscreen;
}

export function formatClock(totalSeconds: number): string {
  if (!Number.isFinite(totalSeconds) || totalSeconds < 0) return '0:00';
  const seconds = Math.floor(totalSeconds % 60);
  const minutes = Math.floor(totalSeconds / 60) % 60;
  const hours = Math.floor(totalSeconds / 3600);
  const mm = hours > 0 ? String(minutes).padStart(2, '0') : String(minutes);
  return `${hours > 0 ? `${hours}:` : ''}${mm}:${String(seconds).padStart(2, '0')}`;
}
