// The app's icons as inline SVG: font glyphs (▶ 🔊 ⛶ ✂) render as empty boxes on machines without
// symbol or emoji fonts, and inline SVG needs no extra request or font. Every icon is decorative
// (aria-hidden): the button that holds it carries the accessible name (aria-label), so screen
// readers announce "Mute", not a picture. Icons are 1em square and take the text colour.
import type { ReactNode } from 'react';

type IconProps = { className?: string };

function Icon({ children, stroked, className }: { children: ReactNode; stroked?: boolean } & IconProps) {
  return (
    <svg
      className={className === undefined ? 'icon' : `icon ${className}`}
      viewBox="0 0 24 24"
      width="1em"
      height="1em"
      aria-hidden="true"
      focusable="false"
      fill={stroked ? 'none' : 'currentColor'}
      stroke={stroked ? 'currentColor' : 'none'}
      strokeWidth={stroked ? 2 : undefined}
      strokeLinecap={stroked ? 'round' : undefined}
      strokeLinejoin={stroked ? 'round' : undefined}
    >
      {children}
    </svg>
  );
}

export function PlayIcon(props: IconProps) {
  return (
    <Icon {...props}>
      <path d="M8 5v14l11-7z" />
    </Icon>
  );
}

export function PauseIcon(props: IconProps) {
  return (
    <Icon {...props}>
      <path d="M6 5h4v14H6zM14 5h4v14h-4z" />
    </Icon>
  );
}

const SPEAKER = 'M3 9v6h4l5 5V4L7 9H3z';

export function VolumeIcon(props: IconProps) {
  return (
    <Icon {...props}>
      <path d={SPEAKER} />
      <path
        d="M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12"
        fill="none"
        stroke="currentColor"
        strokeWidth={2}
      />
    </Icon>
  );
}

export function MutedIcon(props: IconProps) {
  return (
    <Icon {...props}>
      <path d={SPEAKER} />
      <path d="M16 9l5 6M21 9l-5 6" fill="none" stroke="currentColor" strokeWidth={2} strokeLinecap="round" />
    </Icon>
  );
}

export function FullscreenIcon(props: IconProps) {
  return (
    <Icon stroked {...props}>
      <path d="M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5" />
    </Icon>
  );
}

export function ExitFullscreenIcon(props: IconProps) {
  return (
    <Icon stroked {...props}>
      <path d="M9 4v5H4M20 9h-5V4M15 20v-5h5M4 15h5v5" />
    </Icon>
  );
}

export function ScissorsIcon(props: IconProps) {
  return (
    <Icon stroked {...props}>
      <circle cx="6" cy="6" r="3" />
      <circle cx="6" cy="18" r="3" />
      <path d="M8.5 7.8L20 18M8.5 16.2L20 6" />
    </Icon>
  );
}

export function CloseIcon(props: IconProps) {
  return (
    <Icon stroked {...props}>
      <path d="M6 6l12 12M18 6L6 18" />
    </Icon>
  );
}

/** The red "live" dot. */
export function LiveDotIcon(props: IconProps) {
  return (
    <Icon {...props}>
      <circle cx="12" cy="12" r="8" />
    </Icon>
  );
}

export function BellIcon(props: IconProps) {
  return (
    <Icon {...props} stroked>
      <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
      <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
    </Icon>
  );
}
