// The dashboard's affiliate/partner program panel: where the channel stands over the last 30 days
// against each tier's thresholds (GET /channels/{id}/tier-program), and what its next stream gets.
import { api, readApi } from '../api/client.ts';
import { useApi } from '../api/use-api.ts';
import { ErrorMessage, LoadingMessage } from '../components/status-message.tsx';

const TIER_NAMES = { none: 'Source only', affiliate: 'Affiliate', partner: 'Partner' } as const;

const ROWS = [
  ['followers', 'Followers'],
  ['broadcast_minutes', 'Minutes live'],
  ['broadcast_days', 'Days live'],
  ['average_viewers', 'Average viewers'],
] as const;

export function TierProgramPanel({ channelId }: { channelId: string }) {
  const program = useApi(`/channels/${channelId}/tier-program`, (options) =>
    readApi(api.channels[':id']['tier-program'].$get({ param: { id: channelId } }, options)),
  );
  if (program.error) return <ErrorMessage error={program.error} />;
  if (!program.data) return <LoadingMessage />;
  const { tier, override, standing, thresholds } = program.data;
  return (
    <div>
      <p>
        Your next stream is transcoded as <strong>{TIER_NAMES[tier]}</strong>
        {override ? ' (set by an operator)' : ''}. Figures cover the last 30 days; tiers are reviewed after
        each stream.
      </p>
      <table className="tier-table">
        <thead>
          <tr>
            <th scope="col">Last 30 days</th>
            <th scope="col">You</th>
            <th scope="col">Affiliate</th>
            <th scope="col">Partner</th>
          </tr>
        </thead>
        <tbody>
          {ROWS.map(([key, label]) => (
            <tr key={key}>
              <th scope="row">{label}</th>
              <td>{standing[key]}</td>
              <td className={standing[key] >= thresholds.affiliate[key] ? 'met' : undefined}>
                {thresholds.affiliate[key]}
              </td>
              <td className={standing[key] >= thresholds.partner[key] ? 'met' : undefined}>
                {thresholds.partner[key]}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
