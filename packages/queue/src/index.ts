export { LaneQueue, type LaneEntry, type LaneQueueOptions } from './lanes.ts';
