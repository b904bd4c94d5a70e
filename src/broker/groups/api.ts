// Kafka protocol handlers of the group coordinator: they translate each request version into
// coordinator calls and the answers back into responses.
import { ErrorCode } from '../../protocol/kafka/index.ts';
import type {
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  JoinGroupRequest,
  JoinGroupResponse,
  SyncGroupRequest,
  SyncGroupResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  LeaveGroupRequest,
  LeaveGroupResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  OffsetFetchRequest,
  OffsetFetchResponse,
  ListGroupsRequest,
  ListGroupsResponse,
  DescribeGroupsRequest,
  DescribeGroupsResponse,
  DeleteGroupsRequest,
  DeleteGroupsResponse,
  OffsetDeleteRequest,
  OffsetDeleteResponse,
} from '../../protocol/kafka/index.ts';
import type { GroupCoordinator } from './coordinator.ts';

export interface GroupRequestContext {
  apiVersion: number;
  clientId: string | null;
  remote: string;
}

export function handleFindCoordinator(node: { nodeId: number; host: string; port: number }, ctx: GroupRequestContext, req: FindCoordinatorRequest): FindCoordinatorResponse {
  const keyType = req.keyType ?? 0;
  if (keyType !== 0 && keyType !== 1) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.INVALID_REQUEST, errorMessage: `unknown coordinator key type ${keyType}`, nodeId: -1, host: '', port: -1 };
  }
  if (ctx.apiVersion >= 4) {
    return { throttleTimeMs: 0, coordinators: (req.coordinatorKeys ?? []).map((key) => ({ key, ...node, errorCode: ErrorCode.NONE, errorMessage: null })) };
  }
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, ...node };
}

export async function handleJoinGroup(c: GroupCoordinator, ctx: GroupRequestContext, req: JoinGroupRequest): Promise<JoinGroupResponse> {
  const result = await c.joinGroup({
    groupId: req.groupId,
    sessionTimeoutMs: req.sessionTimeoutMs,
    // v0 had no rebalance timeout: Kafka uses the session timeout.
    rebalanceTimeoutMs: ctx.apiVersion >= 1 ? (req.rebalanceTimeoutMs ?? req.sessionTimeoutMs) : req.sessionTimeoutMs,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId ?? null,
    protocolType: req.protocolType,
    protocols: req.protocols,
    requireKnownMemberId: ctx.apiVersion >= 4 && (req.groupInstanceId ?? null) === null,
    clientId: ctx.clientId ?? '',
    clientHost: ctx.remote.replace(/:\d+$/, ''),
  });
  return {
    throttleTimeMs: 0,
    errorCode: result.errorCode,
    generationId: result.generationId,
    protocolType: result.protocolType,
    // Nullable only from v7 on; older versions carry an empty string.
    protocolName: result.protocolName ?? (ctx.apiVersion >= 7 ? null : ''),
    leader: result.leader,
    skipAssignment: false,
    memberId: result.memberId,
    members: result.members,
  };
}

export async function handleSyncGroup(c: GroupCoordinator, _ctx: GroupRequestContext, req: SyncGroupRequest): Promise<SyncGroupResponse> {
  const result = await c.syncGroup({
    groupId: req.groupId,
    generationId: req.generationId,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId ?? null,
    protocolType: req.protocolType ?? null,
    protocolName: req.protocolName ?? null,
    assignments: req.assignments,
  });
  return { throttleTimeMs: 0, ...result };
}

export function handleHeartbeat(c: GroupCoordinator, _ctx: GroupRequestContext, req: HeartbeatRequest): HeartbeatResponse {
  return { throttleTimeMs: 0, errorCode: c.heartbeat({ groupId: req.groupId, generationId: req.generationId, memberId: req.memberId, groupInstanceId: req.groupInstanceId ?? null }) };
}

export function handleLeaveGroup(c: GroupCoordinator, ctx: GroupRequestContext, req: LeaveGroupRequest): LeaveGroupResponse {
  const leaving = ctx.apiVersion >= 3 ? (req.members ?? []).map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId })) : [{ memberId: req.memberId ?? '', groupInstanceId: null }];
  const result = c.leaveGroup(req.groupId, leaving);
  if (ctx.apiVersion >= 3) return { throttleTimeMs: 0, errorCode: result.errorCode, members: result.members };
  return { throttleTimeMs: 0, errorCode: result.errorCode !== ErrorCode.NONE ? result.errorCode : result.members[0].errorCode };
}

export async function handleOffsetCommit(c: GroupCoordinator, ctx: GroupRequestContext, req: OffsetCommitRequest): Promise<OffsetCommitResponse> {
  const flat = req.topics.flatMap((t) =>
    t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex, offset: p.committedOffset, leaderEpoch: p.committedLeaderEpoch ?? -1, metadata: p.committedMetadata })),
  );
  const codes = await c.commitOffsets({
    groupId: req.groupId,
    // v0 carries no generation: a "simple" commit.
    generationId: ctx.apiVersion >= 1 ? (req.generationIdOrMemberEpoch ?? -1) : -1,
    memberId: req.memberId ?? '',
    groupInstanceId: req.groupInstanceId ?? null,
    offsets: flat,
  });
  let i = 0;
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: codes[i++] })) })),
  };
}

export function handleOffsetFetch(c: GroupCoordinator, ctx: GroupRequestContext, req: OffsetFetchRequest): OffsetFetchResponse {
  const groupId = req.groupId ?? '';
  // v0-1: a list of topics is required; v2+: null asks for every committed offset.
  const topics = req.topics === null || req.topics === undefined ? null : req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes }));
  const found = c.fetchOffsets(groupId, ctx.apiVersion >= 2 ? topics : (topics ?? []));
  const byTopic = new Map<string, NonNullable<OffsetFetchResponse['topics']>[number]>();
  for (const f of found) {
    let t = byTopic.get(f.topic);
    if (t === undefined) byTopic.set(f.topic, (t = { name: f.topic, partitions: [] }));
    t.partitions.push({
      partitionIndex: f.partition,
      committedOffset: f.committed?.offset ?? -1,
      committedLeaderEpoch: f.committed?.leaderEpoch ?? -1,
      metadata: f.committed?.metadata ?? '',
      errorCode: ErrorCode.NONE,
    });
  }
  return { throttleTimeMs: 0, topics: [...byTopic.values()], errorCode: ErrorCode.NONE };
}

export function handleListGroups(c: GroupCoordinator, _ctx: GroupRequestContext, req: ListGroupsRequest): ListGroupsResponse {
  const states = req.statesFilter ?? [];
  const groups = c.listGroups().filter((g) => states.length === 0 || states.some((s) => s.toLowerCase() === g.state.toLowerCase()));
  return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, groups: groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType, groupState: g.state, groupType: 'classic' })) };
}

export function handleDescribeGroups(c: GroupCoordinator, _ctx: GroupRequestContext, req: DescribeGroupsRequest): DescribeGroupsResponse {
  return {
    throttleTimeMs: 0,
    groups: req.groups.map((groupId) => {
      const d = c.describeGroup(groupId);
      if (d === null) return { errorCode: ErrorCode.NONE, groupId, groupState: 'Dead', protocolType: '', protocolData: '', members: [], authorizedOperations: -2147483648 };
      return {
        errorCode: ErrorCode.NONE,
        groupId,
        groupState: d.state,
        protocolType: d.protocolType,
        protocolData: d.protocolName,
        members: d.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId, clientHost: m.clientHost, memberMetadata: m.metadata, memberAssignment: m.assignment })),
        authorizedOperations: -2147483648,
      };
    }),
  };
}

export async function handleDeleteGroups(c: GroupCoordinator, _ctx: GroupRequestContext, req: DeleteGroupsRequest): Promise<DeleteGroupsResponse> {
  const results = [];
  for (const groupId of req.groupsNames) results.push({ groupId, errorCode: await c.deleteGroup(groupId) });
  return { throttleTimeMs: 0, results };
}

export async function handleOffsetDelete(c: GroupCoordinator, _ctx: GroupRequestContext, req: OffsetDeleteRequest): Promise<OffsetDeleteResponse> {
  const flat = req.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partitionIndex })));
  const result = await c.deleteOffsets(req.groupId, flat);
  let i = 0;
  return {
    errorCode: result.errorCode,
    throttleTimeMs: 0,
    topics: result.errorCode !== ErrorCode.NONE ? [] : req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: result.partitions[i++] })) })),
  };
}
