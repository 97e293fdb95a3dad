// Turns packager events into ingest uploads: the packager speaks CMAF, the origin speaks
// protocol/ingest.ts, and this is the only place that knows both.
import type { RenditionName } from '../../../../protocol/ingest.ts';
import type { PackagerEvent } from '../cmaf/packager.ts';
import type { UploadItem } from './rendition-uploader.ts';

export interface RenditionDescription {
  rendition: RenditionName;
  /** Peak bits per second (video + audio) for the multivariant playlist. */
  bandwidth: number;
  averageBandwidth: number;
  frameRate?: number;
  /** Seconds; the packager's partTarget, fixed for the stream. */
  partTarget: number;
}

export function buildUploadItem(event: PackagerEvent, description: RenditionDescription): UploadItem {
  const { rendition } = description;
  switch (event.kind) {
    case 'init':
      return {
        kind: 'init',
        bytes: event.bytes,
        meta: {
          rendition,
          codecs: event.codecs,
          bandwidth: Math.round(description.bandwidth),
          average_bandwidth: Math.round(description.averageBandwidth),
          part_target: description.partTarget,
          ...(event.width === undefined ? {} : { width: event.width }),
          ...(event.height === undefined ? {} : { height: event.height }),
          ...(description.frameRate === undefined ? {} : { frame_rate: description.frameRate }),
        },
      };
    case 'part':
      return {
        kind: 'part',
        bytes: event.bytes,
        meta: {
          rendition,
          msn: event.msn,
          part: event.part,
          duration: event.duration,
          independent: event.independent,
          pdt: Math.round(event.pdt),
        },
      };
    case 'segment':
      return {
        kind: 'segment',
        bytes: event.bytes,
        meta: {
          rendition,
          msn: event.msn,
          duration: event.duration,
          parts: event.parts,
          pdt: Math.round(event.pdt),
        },
      };
  }
}
