// The client network helper lives in common/ so the transcoder's RTMP pre-auth limits key on the
// same buckets as the Worker's per-client limits; Worker code keeps importing it from here.
export { toClientNetwork } from '../../common/client-network.ts';
