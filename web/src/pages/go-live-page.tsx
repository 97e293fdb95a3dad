// `/dashboard/go-live` (loaded on demand): go live from the browser over WHIP (docs/webrtc.md).
// Camera and microphone pickers, screen share, a quality preset, a local preview, a live indicator
// and automatic reconnects (player/whip-client.ts); and the WHIP settings for OBS 30+ (server URL
// and bearer token, the stream key). The page is opened with a full load (not a client-side route
// change) because its document alone is allowed the camera, microphone and the ingest's origin
// (web/public/_headers).
import { useEffect, useRef, useState } from 'react';
import { Navigate } from 'react-router';
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { useAuth } from '../auth/auth-context.tsx';
import { Panel } from '../components/panel.tsx';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';
import { type PublishState, WhipPublisher } from '../player/whip-client.ts';

/** Presets a browser encoder holds on an ordinary uplink; the ladder is made from the source. */
const PRESETS = {
  '480p': { width: 854, height: 480, frameRate: 30, bitrate: 1_200_000 },
  '720p': { width: 1280, height: 720, frameRate: 30, bitrate: 2_500_000 },
  '1080p': { width: 1920, height: 1080, frameRate: 30, bitrate: 4_500_000 },
} as const;
type PresetName = keyof typeof PRESETS;
const isPreset = (value: string): value is PresetName => Object.hasOwn(PRESETS, value);

const STATE_LABELS: Record<PublishState, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  live: 'LIVE',
  reconnecting: 'Reconnecting…',
  failed: 'Connection lost',
  stopped: 'Offline',
};

export function GoLivePage() {
  const { user, channel, ready } = useAuth();
  if (!ready) return <LoadingMessage />;
  if (!user) return <Navigate to="/login" replace />;
  if (!channel) return <LoadingMessage />;
  return <GoLive channelId={channel.id} />;
}

async function openSource(
  source: 'camera' | 'screen',
  preset: PresetName,
  cameraId: string,
  microphoneId: string,
): Promise<MediaStream> {
  const { width, height, frameRate } = PRESETS[preset];
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: frameRate } };
  const audio = microphoneId === '' ? true : { deviceId: { exact: microphoneId } };
  if (source === 'screen') {
    const screen = await navigator.mediaDevices.getDisplayMedia({ video, audio: false });
    const microphone = await navigator.mediaDevices.getUserMedia({ audio });
    return new MediaStream([...screen.getVideoTracks(), ...microphone.getAudioTracks()]);
  }
  return navigator.mediaDevices.getUserMedia({
    video: cameraId === '' ? video : { ...video, deviceId: { exact: cameraId } },
    audio,
  });
}

function GoLive({ channelId }: { channelId: string }) {
  const id = encodeURIComponent(channelId);
  const key = useApi(`/channels/${channelId}/stream-key`, (options) =>
    readApi(api.channels[':id']['stream-key'].$get({ param: { id } }, options)),
  );
  const [devices, setDevices] = useState<MediaDeviceInfo[]>([]);
  const [cameraId, setCameraId] = useState('');
  const [microphoneId, setMicrophoneId] = useState('');
  const [source, setSource] = useState<'camera' | 'screen'>('camera');
  const [preset, setPreset] = useState<PresetName>('720p');
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [state, setState] = useState<PublishState>('idle');
  const [detail, setDetail] = useState<string | null>(null);
  const [showToken, setShowToken] = useState(false);
  const publisher = useRef<WhipPublisher | null>(null);
  const preview = useRef<HTMLVideoElement | null>(null);

  useEffect(() => {
    navigator.mediaDevices
      ?.enumerateDevices()
      .then(setDevices)
      .catch(() => setDevices([]));
  }, []);

  useEffect(() => {
    if (preview.current) preview.current.srcObject = stream;
  }, [stream]);

  // Leaving the page ends the broadcast and frees the camera.
  useEffect(
    () => () => {
      void publisher.current?.stop();
    },
    [],
  );
  useEffect(
    () => () => {
      for (const track of stream?.getTracks() ?? []) track.stop();
    },
    [stream],
  );

  const startPreview = async () => {
    setDetail(null);
    try {
      setStream(await openSource(source, preset, cameraId, microphoneId));
      // Device names are only listed once the page has been allowed a device.
      setDevices(await navigator.mediaDevices.enumerateDevices());
    } catch (error) {
      setDetail(`Could not open the ${source}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  const goLive = async () => {
    if (!stream || !key.data) return;
    const next = new WhipPublisher({
      whipUrl: key.data.whip_url,
      streamKey: key.data.stream_key,
      stream,
      videoBitrate: PRESETS[preset].bitrate,
      onState: (value, why) => {
        setState(value);
        setDetail(why ?? null);
      },
    });
    publisher.current = next;
    try {
      await next.start();
    } catch (error) {
      setState('failed');
      setDetail(error instanceof Error ? error.message : String(error));
    }
  };

  const stop = async () => {
    await publisher.current?.stop();
    publisher.current = null;
  };

  if (key.error) return <ErrorMessage error={key.error} />;
  if (!key.data) return <LoadingMessage />;
  const publishing = state === 'connecting' || state === 'live' || state === 'reconnecting';
  const cameras = devices.filter((device) => device.kind === 'videoinput');
  const microphones = devices.filter((device) => device.kind === 'audioinput');
  return (
    <div className="dashboard go-live">
      <h1>Go live from the browser</h1>
      <div className="dashboard-grid">
        <Panel title="Source">
          <fieldset disabled={publishing}>
            <label htmlFor="go-live-source">Source</label>
            <select
              id="go-live-source"
              value={source}
              onChange={(event) => setSource(event.target.value === 'screen' ? 'screen' : 'camera')}
            >
              <option value="camera">Camera</option>
              <option value="screen">Screen share</option>
            </select>
            <label htmlFor="go-live-camera">Camera</label>
            <select
              id="go-live-camera"
              value={cameraId}
              onChange={(event) => setCameraId(event.target.value)}
            >
              <option value="">Default camera</option>
              {cameras.map((device) => (
                <option key={device.deviceId} value={device.deviceId}>
                  {device.label || 'Camera'}
                </option>
              ))}
            </select>
            <label htmlFor="go-live-microphone">Microphone</label>
            <select
              id="go-live-microphone"
              value={microphoneId}
              onChange={(event) => setMicrophoneId(event.target.value)}
            >
              <option value="">Default microphone</option>
              {microphones.map((device) => (
                <option key={device.deviceId} value={device.deviceId}>
                  {device.label || 'Microphone'}
                </option>
              ))}
            </select>
            <label htmlFor="go-live-quality">Quality</label>
            <select
              id="go-live-quality"
              value={preset}
              onChange={(event) => setPreset(isPreset(event.target.value) ? event.target.value : '720p')}
            >
              {Object.entries(PRESETS).map(([name, value]) => (
                <option key={name} value={name}>
                  {name} ({value.bitrate / 1_000_000} Mbps)
                </option>
              ))}
            </select>
            <button type="button" className="button-secondary" onClick={() => void startPreview()}>
              {stream ? 'Apply' : 'Preview'}
            </button>
          </fieldset>
        </Panel>
        <Panel title="Preview">
          <p className="go-live-state" data-state={state} role="status">
            {STATE_LABELS[state]}
            {detail ? ` — ${detail}` : ''}
          </p>
          <video ref={preview} className="go-live-preview" autoPlay muted playsInline />
          {publishing ? (
            <button type="button" onClick={() => void stop()}>
              End stream
            </button>
          ) : (
            <button type="button" disabled={!stream} onClick={() => void goLive()}>
              Go live
            </button>
          )}
        </Panel>
        <Panel title="OBS (WHIP)">
          <p className="hint">In OBS 30 or later: Settings → Stream → Service "WHIP".</p>
          <label htmlFor="whip-server">Server</label>
          <input id="whip-server" readOnly value={key.data.whip_url} />
          <label htmlFor="whip-token">Bearer token</label>
          <div className="input-row">
            <input
              id="whip-token"
              readOnly
              type={showToken ? 'text' : 'password'}
              value={key.data.stream_key}
            />
            <button type="button" className="button-secondary" onClick={() => setShowToken(!showToken)}>
              {showToken ? 'Hide' : 'Show'}
            </button>
          </div>
        </Panel>
        <Panel title="OBS or a mobile encoder (SRT)">
          <p className="hint">
            In OBS: Settings → Stream → Service "Custom", this as the Server and no Stream Key. The address
            carries your stream key and the encryption passphrase: keep it secret.
          </p>
          <label htmlFor="srt-url">Server</label>
          <input id="srt-url" readOnly type={showToken ? 'text' : 'password'} value={key.data.srt_url} />
        </Panel>
      </div>
    </div>
  );
}
