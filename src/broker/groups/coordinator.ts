// The group coordinator: Kafka's classic consumer-group protocol on one node (KAFKA-PROTOCOL.md §3).
// JoinGroup/SyncGroup/Heartbeat/LeaveGroup drive each group's state machine; OffsetCommit and
// OffsetFetch read and write committed offsets, which — like group metadata — are durable in
// __consumer_offsets before a request is answered. Assignments are opaque bytes.
import { randomUUID } from 'node:crypto';
import { type Clock, type Logger, ownedCopy } from '../../util/index.ts';
import { ErrorCode } from '../../protocol/kafka/index.ts';
import { Group, type JoinResult, type Member, type SyncResult } from './group.ts';
import type { CommittedOffset, OffsetStore, StoredGroup } from './offset-store.ts';

export interface CoordinatorConfig {
  /** Wait for more members before the first rebalance of an empty group. @default 3000 */
  initialRebalanceDelayMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  maxGroups: number;
  maxMembersPerGroup: number;
  /** Bytes of protocol metadata one member may send (all protocols together). */
  maxMemberMetadataBytes: number;
  /** Largest commit metadata string (Kafka's offset.metadata.max.bytes). */
  maxOffsetMetadataBytes: number;
  /** Offsets of a group that stays empty this long are deleted (offsets.retention.minutes). */
  offsetsRetentionMs: number;
}

export interface JoinRequest {
  groupId: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string;
  protocols: Array<{ name: string; metadata: Buffer }>;
  /** JoinGroup v4+: a dynamic member without an id must first ask for one. */
  requireKnownMemberId: boolean;
  clientId: string;
  clientHost: string;
}

export interface OffsetCommitInput {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  offsets: Array<{ topic: string; partition: number; offset: number; leaderEpoch: number; metadata: string | null }>;
}

function joinError(errorCode: number, memberId = ''): JoinResult {
  return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: '', memberId, members: [] };
}

function syncError(errorCode: number): SyncResult {
  return { errorCode, protocolType: null, protocolName: null, assignment: Buffer.alloc(0) };
}

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>();
  private readonly offsets = new Map<string, Map<string, CommittedOffset>>();
  private readonly store: OffsetStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly config: CoordinatorConfig;
  /** Returns whether a topic-partition exists (commits to unknown partitions are refused). */
  private readonly partitionExists: (topic: string, partition: number) => boolean;
  private closed = false;

  constructor(options: { store: OffsetStore; clock: Clock; logger: Logger; config: CoordinatorConfig; partitionExists: (topic: string, partition: number) => boolean }) {
    this.store = options.store;
    this.clock = options.clock;
    this.logger = options.logger;
    this.config = options.config;
    this.partitionExists = options.partitionExists;
  }

  /** Restores groups and offsets loaded from __consumer_offsets; members must heartbeat anew. */
  restore(groups: Map<string, StoredGroup>, offsets: Map<string, Map<string, CommittedOffset>>): void {
    for (const [groupId, m] of offsets) this.offsets.set(groupId, m);
    for (const [groupId, stored] of groups) {
      const group = new Group(groupId, stored.stateTimestampMs);
      group.generationId = stored.generationId;
      group.protocolType = stored.protocolType;
      group.protocolName = stored.protocolName;
      group.leaderId = stored.leaderId;
      for (const sm of stored.members) {
        const member: Member = {
          memberId: sm.memberId,
          groupInstanceId: sm.groupInstanceId,
          clientId: sm.clientId,
          clientHost: sm.clientHost,
          sessionTimeoutMs: sm.sessionTimeoutMs,
          rebalanceTimeoutMs: sm.rebalanceTimeoutMs,
          protocolType: stored.protocolType ?? '',
          protocols: [{ name: stored.protocolName ?? '', metadata: ownedCopy(Buffer.from(sm.subscription, 'base64')) }],
          assignment: ownedCopy(Buffer.from(sm.assignment, 'base64')),
          awaitingJoin: null,
          awaitingSync: null,
          sessionTimer: null,
          joinedThisRebalance: false,
        };
        group.members.set(member.memberId, member);
        if (member.groupInstanceId !== null) group.staticMembers.set(member.groupInstanceId, member.memberId);
        this.scheduleSessionExpiry(group, member);
      }
      group.state = group.members.size > 0 ? 'Stable' : 'Empty';
      this.groups.set(groupId, group);
    }
  }

  // ---- JoinGroup --------------------------------------------------------------------------------

  async joinGroup(req: JoinRequest): Promise<JoinResult> {
    if (req.groupId.length === 0) return joinError(ErrorCode.INVALID_GROUP_ID, req.memberId);
    if (req.sessionTimeoutMs < this.config.minSessionTimeoutMs || req.sessionTimeoutMs > this.config.maxSessionTimeoutMs) {
      return joinError(ErrorCode.INVALID_SESSION_TIMEOUT, req.memberId);
    }
    const metadataBytes = req.protocols.reduce((n, p) => n + p.metadata.length + p.name.length, 0);
    if (metadataBytes > this.config.maxMemberMetadataBytes) {
      this.logger.warn('join refused: member metadata too large', { group: req.groupId, bytes: metadataBytes, limit: this.config.maxMemberMetadataBytes });
      return joinError(ErrorCode.INVALID_REQUEST, req.memberId);
    }
    let group = this.groups.get(req.groupId);
    if (group === undefined) {
      if (req.memberId !== '') return joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId);
      if (this.groups.size >= this.config.maxGroups) {
        this.logger.warn('join refused: too many groups', { group: req.groupId, limit: this.config.maxGroups });
        return joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, req.memberId);
      }
      group = new Group(req.groupId, this.clock.nowMs());
      this.groups.set(req.groupId, group);
    }
    if (group.state === 'Dead') return joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, req.memberId);
    if (!group.supportsProtocols(req.protocolType, req.protocols)) return joinError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, req.memberId);
    if (req.memberId === '') return this.joinUnknownMember(group, req);
    return this.joinKnownMember(group, req);
  }

  private newMemberId(clientId: string): string {
    return `${clientId.slice(0, 100)}-${randomUUID()}`;
  }

  private joinUnknownMember(group: Group, req: JoinRequest): Promise<JoinResult> | JoinResult {
    const memberId = this.newMemberId(req.clientId);
    if (req.groupInstanceId !== null) {
      const old = group.staticMembers.get(req.groupInstanceId);
      if (old !== undefined) {
        // KIP-345: the new instance replaces the old member; the old id is fenced from now on.
        const previous = group.members.get(old);
        if (previous !== undefined && group.state === 'Stable' && req.protocolType === group.protocolType && this.sameProtocols(previous, req)) {
          return this.replaceStaticMember(group, previous, memberId, req);
        }
        if (previous !== undefined) {
          this.clearMemberTimers(previous);
          previous.awaitingJoin?.(joinError(ErrorCode.FENCED_INSTANCE_ID, old));
          previous.awaitingSync?.(syncError(ErrorCode.FENCED_INSTANCE_ID));
          group.members.delete(old);
          if (group.leaderId === old) group.leaderId = memberId;
        }
        this.logger.info('static member replaced', { group: group.groupId, instance: req.groupInstanceId, old, new: memberId });
      }
      return this.addMemberAndRebalance(group, req, memberId);
    }
    if (req.requireKnownMemberId) {
      // KIP-394: hand out an id and wait for the member to come back with it.
      if (group.pendingMembers.size + group.members.size >= this.config.maxMembersPerGroup) return joinError(ErrorCode.GROUP_MAX_SIZE_REACHED);
      const timer = setTimeout(() => group.pendingMembers.delete(memberId), req.sessionTimeoutMs);
      timer.unref();
      group.pendingMembers.set(memberId, timer);
      return joinError(ErrorCode.MEMBER_ID_REQUIRED, memberId);
    }
    return this.addMemberAndRebalance(group, req, memberId);
  }

  /**
   * KIP-345, Kafka's updateStaticMemberAndRebalance in a Stable group: a restarted static member
   * with unchanged protocols takes over its old member id's place and assignment without a
   * rebalance; the old id is fenced from now on. The group is stored before the answer, so the
   * new id survives a restart.
   */
  private async replaceStaticMember(group: Group, previous: Member, memberId: string, req: JoinRequest): Promise<JoinResult> {
    const oldId = previous.memberId;
    // Answer with the leader as it was: a restarted leader must not run an assignment that a
    // Stable group would ignore, so it must not see itself named as the leader.
    const leader = group.leaderId ?? '';
    this.clearMemberTimers(previous);
    group.members.delete(oldId);
    const member: Member = {
      ...previous,
      memberId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      awaitingJoin: null,
      awaitingSync: null,
      sessionTimer: null,
      joinedThisRebalance: false,
    };
    group.members.set(memberId, member);
    group.staticMembers.set(req.groupInstanceId ?? '', memberId);
    if (group.leaderId === oldId) group.leaderId = memberId;
    this.scheduleSessionExpiry(group, member);
    this.logger.info('static member replaced without a rebalance', { group: group.groupId, instance: req.groupInstanceId, old: oldId, new: memberId });
    try {
      await this.store.storeGroup(group.groupId, this.snapshot(group));
    } catch (err) {
      this.logger.error('storing group metadata failed', { group: group.groupId, err });
      return joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, memberId);
    }
    return { errorCode: ErrorCode.NONE, generationId: group.generationId, protocolType: group.protocolType, protocolName: group.protocolName, leader, memberId, members: [] };
  }

  private joinKnownMember(group: Group, req: JoinRequest): Promise<JoinResult> | JoinResult {
    const pending = group.pendingMembers.get(req.memberId);
    if (pending !== undefined) {
      clearTimeout(pending);
      group.pendingMembers.delete(req.memberId);
      return this.addMemberAndRebalance(group, req, req.memberId);
    }
    const fenced = this.checkStatic(group, req.memberId, req.groupInstanceId);
    if (fenced !== ErrorCode.NONE) return joinError(fenced, req.memberId);
    const member = group.members.get(req.memberId);
    if (member === undefined) return joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId);
    switch (group.state) {
      case 'PreparingRebalance':
        return this.updateMemberAndRebalance(group, member, req);
      case 'CompletingRebalance':
        if (this.sameProtocols(member, req)) return this.currentJoinResult(group, member);
        return this.updateMemberAndRebalance(group, member, req);
      case 'Stable':
        if (member.memberId === group.leaderId || !this.sameProtocols(member, req)) return this.updateMemberAndRebalance(group, member, req);
        return this.currentJoinResult(group, member);
      default:
        return joinError(ErrorCode.UNKNOWN_MEMBER_ID, req.memberId);
    }
  }

  private sameProtocols(member: Member, req: JoinRequest): boolean {
    if (member.protocols.length !== req.protocols.length) return false;
    return member.protocols.every((p, i) => p.name === req.protocols[i].name && p.metadata.equals(req.protocols[i].metadata));
  }

  private currentJoinResult(group: Group, member: Member): JoinResult {
    return {
      errorCode: ErrorCode.NONE,
      generationId: group.generationId,
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      memberId: member.memberId,
      members: member.memberId === group.leaderId ? this.memberList(group) : [],
    };
  }

  private memberList(group: Group): JoinResult['members'] {
    return [...group.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: group.metadataFor(m) }));
  }

  private addMemberAndRebalance(group: Group, req: JoinRequest, memberId: string): Promise<JoinResult> | JoinResult {
    if (group.members.size >= this.config.maxMembersPerGroup) {
      this.logger.warn('join refused: group is full', { group: group.groupId, limit: this.config.maxMembersPerGroup });
      return joinError(ErrorCode.GROUP_MAX_SIZE_REACHED, memberId);
    }
    const member: Member = {
      memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocolType: req.protocolType,
      protocols: ownedProtocols(req.protocols),
      assignment: Buffer.alloc(0),
      awaitingJoin: null,
      awaitingSync: null,
      sessionTimer: null,
      joinedThisRebalance: true,
    };
    if (group.members.size === 0) group.protocolType = req.protocolType;
    group.members.set(memberId, member);
    if (req.groupInstanceId !== null) group.staticMembers.set(req.groupInstanceId, memberId);
    if (group.leaderId === null) group.leaderId = memberId;
    const result = new Promise<JoinResult>((resolve) => (member.awaitingJoin = resolve));
    if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group);
    else this.prepareRebalance(group, `member ${memberId} joined`);
    return result;
  }

  private updateMemberAndRebalance(group: Group, member: Member, req: JoinRequest): Promise<JoinResult> {
    member.protocols = ownedProtocols(req.protocols);
    member.sessionTimeoutMs = req.sessionTimeoutMs;
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
    member.joinedThisRebalance = true;
    // A second JoinGroup from the same member replaces the first (its old request gets an error).
    member.awaitingJoin?.(joinError(ErrorCode.REBALANCE_IN_PROGRESS, member.memberId));
    const result = new Promise<JoinResult>((resolve) => (member.awaitingJoin = resolve));
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    member.sessionTimer = null;
    if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group);
    else this.prepareRebalance(group, `member ${member.memberId} rejoined`);
    return result;
  }

  private prepareRebalance(group: Group, reason: string): void {
    if (group.state === 'CompletingRebalance') {
      for (const m of group.members.values()) {
        m.assignment = Buffer.alloc(0);
        m.awaitingSync?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
        m.awaitingSync = null;
      }
    }
    if (group.syncTimer) clearTimeout(group.syncTimer);
    group.syncTimer = null;
    const wasEmpty = group.state === 'Empty';
    group.transition('PreparingRebalance', this.clock.nowMs());
    for (const m of group.members.values()) if (m.awaitingJoin === null) m.joinedThisRebalance = false;
    this.logger.debug('preparing rebalance', { group: group.groupId, reason, generation: group.generationId });
    if (group.joinTimer) clearTimeout(group.joinTimer);
    if (wasEmpty && this.config.initialRebalanceDelayMs > 0) {
      group.initialDelayActive = true;
      this.startInitialDelay(group, this.config.initialRebalanceDelayMs, Math.max(group.maxRebalanceTimeoutMs() - this.config.initialRebalanceDelayMs, 0));
      return;
    }
    group.joinTimer = setTimeout(() => this.completeJoin(group), Math.max(group.maxRebalanceTimeoutMs(), 1));
    group.joinTimer.unref();
    this.tryCompleteJoin(group);
  }

  /** Kafka's InitialDelayedJoin: wait `delayMs`, and again while new members keep arriving, up to the rebalance timeout. */
  private startInitialDelay(group: Group, delayMs: number, remainingMs: number): void {
    const membersAtStart = group.members.size;
    group.joinTimer = setTimeout(() => {
      if (group.members.size > membersAtStart && remainingMs > 0) {
        const next = Math.min(delayMs, remainingMs);
        this.startInitialDelay(group, next, remainingMs - next);
        return;
      }
      group.initialDelayActive = false;
      if (group.allMembersJoined()) this.completeJoin(group);
      else {
        group.joinTimer = setTimeout(() => this.completeJoin(group), Math.max(remainingMs, 1));
        group.joinTimer.unref();
      }
    }, delayMs);
    group.joinTimer.unref();
  }

  private tryCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.initialDelayActive) return;
    if (group.allMembersJoined()) this.completeJoin(group);
  }

  /**
   * Kafka's maybeElectNewJoinedLeader: a leader that did not rejoin (a static member, which the
   * barrier keeps) would never get the member list to assign, so a member that did rejoin leads.
   * Returns false when no member rejoined.
   */
  private electJoinedLeader(group: Group): boolean {
    const leader = group.leaderId === null ? undefined : group.members.get(group.leaderId);
    if (leader !== undefined && leader.awaitingJoin !== null) return true;
    for (const m of group.members.values()) {
      if (m.awaitingJoin !== null) {
        group.leaderId = m.memberId;
        return true;
      }
    }
    return false;
  }

  /** The join barrier ends: members that did not rejoin leave, a new generation starts. */
  private completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || this.closed) return;
    if (group.joinTimer) clearTimeout(group.joinTimer);
    group.joinTimer = null;
    group.initialDelayActive = false;
    for (const m of [...group.members.values()]) {
      if (m.awaitingJoin === null && m.groupInstanceId === null) this.removeMemberQuietly(group, m, 'did not rejoin in time');
    }
    if (group.members.size > 0 && !this.electJoinedLeader(group)) {
      // Only static members remain and none rejoined: wait another rebalance timeout (Kafka's
      // DelayedJoin retry); members that are really gone leave when their sessions expire.
      group.joinTimer = setTimeout(() => this.completeJoin(group), Math.max(group.maxRebalanceTimeoutMs(), 1));
      group.joinTimer.unref();
      return;
    }
    group.generationId++;
    const now = this.clock.nowMs();
    if (group.members.size === 0) {
      group.protocolName = null;
      group.leaderId = null;
      group.transition('Empty', now);
      this.persistGroup(group);
      return;
    }
    group.protocolName = group.selectProtocol();
    if (group.leaderId === null || !group.members.has(group.leaderId)) group.leaderId = group.members.keys().next().value ?? null;
    group.transition('CompletingRebalance', now);
    for (const m of group.members.values()) {
      const reply = m.awaitingJoin;
      m.awaitingJoin = null;
      m.joinedThisRebalance = false;
      reply?.(this.currentJoinResult(group, m));
      this.scheduleSessionExpiry(group, m);
    }
    group.syncTimer = setTimeout(() => this.onSyncTimeout(group, group.generationId), Math.max(group.maxRebalanceTimeoutMs(), 1));
    group.syncTimer.unref();
    this.logger.info('group rebalanced', { group: group.groupId, generation: group.generationId, members: group.members.size, protocol: group.protocolName });
  }

  /** Members that never sent SyncGroup within the rebalance timeout are removed. */
  private onSyncTimeout(group: Group, generationId: number): void {
    if (group.state !== 'CompletingRebalance' || group.generationId !== generationId) return;
    for (const m of [...group.members.values()]) if (m.awaitingSync === null) this.removeMemberQuietly(group, m, 'did not sync in time');
    this.prepareRebalance(group, 'members did not sync');
  }

  // ---- SyncGroup --------------------------------------------------------------------------------

  async syncGroup(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null; protocolType: string | null; protocolName: string | null; assignments: Array<{ memberId: string; assignment: Buffer }> }): Promise<SyncResult> {
    const group = this.groups.get(req.groupId);
    if (group === undefined) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    const fenced = this.checkStatic(group, req.memberId, req.groupInstanceId);
    if (fenced !== ErrorCode.NONE) return syncError(fenced);
    const member = group.members.get(req.memberId);
    if (member === undefined) return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    if (req.generationId !== group.generationId) return syncError(ErrorCode.ILLEGAL_GENERATION);
    if ((req.protocolType !== null && req.protocolType !== group.protocolType) || (req.protocolName !== null && req.protocolName !== group.protocolName)) {
      return syncError(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    switch (group.state) {
      case 'PreparingRebalance':
        return syncError(ErrorCode.REBALANCE_IN_PROGRESS);
      case 'Stable':
        this.scheduleSessionExpiry(group, member);
        return { errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: member.assignment };
      case 'CompletingRebalance':
        break;
      default:
        return syncError(ErrorCode.UNKNOWN_MEMBER_ID);
    }
    this.scheduleSessionExpiry(group, member);
    member.awaitingSync?.(syncError(ErrorCode.REBALANCE_IN_PROGRESS));
    const result = new Promise<SyncResult>((resolve) => (member.awaitingSync = resolve));
    if (member.memberId === group.leaderId) {
      // Copies: request buffers are slices of shared receive buffers that must not be pinned for the life of a group.
      const byMember = new Map(req.assignments.map((a) => [a.memberId, ownedCopy(a.assignment)]));
      const generation = group.generationId;
      for (const m of group.members.values()) m.assignment = byMember.get(m.memberId) ?? Buffer.alloc(0);
      try {
        await this.store.storeGroup(group.groupId, this.snapshot(group));
      } catch (err) {
        this.logger.error('storing group metadata failed', { group: group.groupId, err });
        if (group.generationId === generation && group.state === 'CompletingRebalance') this.prepareRebalance(group, 'group metadata not stored');
        return result;
      }
      // Re-check after the await: a member may have left or joined meanwhile.
      if (group.generationId === generation && group.state === 'CompletingRebalance') {
        if (group.syncTimer) clearTimeout(group.syncTimer);
        group.syncTimer = null;
        group.transition('Stable', this.clock.nowMs());
        for (const m of group.members.values()) {
          const reply = m.awaitingSync;
          m.awaitingSync = null;
          reply?.({ errorCode: ErrorCode.NONE, protocolType: group.protocolType, protocolName: group.protocolName, assignment: m.assignment });
        }
      }
    }
    return result;
  }

  // ---- Heartbeat / LeaveGroup ------------------------------------------------------------------

  heartbeat(req: { groupId: string; generationId: number; memberId: string; groupInstanceId: string | null }): number {
    const group = this.groups.get(req.groupId);
    if (group === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    const fenced = this.checkStatic(group, req.memberId, req.groupInstanceId);
    if (fenced !== ErrorCode.NONE) return fenced;
    const member = group.members.get(req.memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    switch (group.state) {
      case 'Empty':
      case 'Dead':
        return ErrorCode.UNKNOWN_MEMBER_ID;
      case 'PreparingRebalance':
        this.scheduleSessionExpiry(group, member);
        return ErrorCode.REBALANCE_IN_PROGRESS;
      default:
        if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
        this.scheduleSessionExpiry(group, member);
        return ErrorCode.NONE;
    }
  }

  /** Returns the top-level error and one error per member identity. */
  leaveGroup(groupId: string, leaving: Array<{ memberId: string; groupInstanceId: string | null }>): { errorCode: number; members: Array<{ memberId: string; groupInstanceId: string | null; errorCode: number }> } {
    const group = this.groups.get(groupId);
    // Kafka's handleLeaveGroup: an unknown group is a per-member error (v0-2 surface it at the top).
    if (group === undefined) return { errorCode: ErrorCode.NONE, members: leaving.map((l) => ({ ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })) };
    const results = leaving.map((l) => ({ ...l, errorCode: this.leaveOne(group, l.memberId, l.groupInstanceId) }));
    return { errorCode: ErrorCode.NONE, members: results };
  }

  private leaveOne(group: Group, memberId: string, groupInstanceId: string | null): number {
    if (groupInstanceId !== null) {
      const owner = group.staticMembers.get(groupInstanceId);
      if (owner === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
      if (memberId !== '' && memberId !== owner) return ErrorCode.FENCED_INSTANCE_ID;
      memberId = owner;
    }
    const pending = group.pendingMembers.get(memberId);
    if (pending !== undefined) {
      clearTimeout(pending);
      group.pendingMembers.delete(memberId);
      return ErrorCode.NONE;
    }
    const member = group.members.get(memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    this.removeMember(group, member, 'left the group');
    return ErrorCode.NONE;
  }

  private removeMemberQuietly(group: Group, member: Member, why: string): void {
    this.clearMemberTimers(member);
    member.awaitingJoin?.(joinError(ErrorCode.UNKNOWN_MEMBER_ID, member.memberId));
    member.awaitingSync?.(syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    member.awaitingJoin = null;
    member.awaitingSync = null;
    group.members.delete(member.memberId);
    if (member.groupInstanceId !== null && group.staticMembers.get(member.groupInstanceId) === member.memberId) group.staticMembers.delete(member.groupInstanceId);
    if (group.leaderId === member.memberId) group.leaderId = group.members.keys().next().value ?? null;
    this.logger.info('member removed', { group: group.groupId, member: member.memberId, why });
  }

  private removeMember(group: Group, member: Member, why: string): void {
    this.removeMemberQuietly(group, member, why);
    if (group.state === 'Stable' || group.state === 'CompletingRebalance') this.prepareRebalance(group, `member ${member.memberId} ${why}`);
    else if (group.state === 'PreparingRebalance') this.tryCompleteJoin(group);
  }

  private clearMemberTimers(member: Member): void {
    if (member.sessionTimer) clearTimeout(member.sessionTimer);
    member.sessionTimer = null;
  }

  /** (Re)starts the member's session: no heartbeat, join, sync or commit within it removes the member. */
  private scheduleSessionExpiry(group: Group, member: Member): void {
    if (this.closed) return;
    this.clearMemberTimers(member);
    member.sessionTimer = setTimeout(() => {
      member.sessionTimer = null;
      if (group.members.get(member.memberId) !== member) return;
      // A member waiting in JoinGroup or SyncGroup is alive: its request is pending here.
      if (member.awaitingJoin !== null || member.awaitingSync !== null) return this.scheduleSessionExpiry(group, member);
      this.removeMember(group, member, 'session timed out');
    }, member.sessionTimeoutMs);
    member.sessionTimer.unref();
  }

  /** KIP-345 fencing: a request naming an instance id must carry the member id that owns it. */
  private checkStatic(group: Group, memberId: string, groupInstanceId: string | null): number {
    if (groupInstanceId === null) return ErrorCode.NONE;
    const owner = group.staticMembers.get(groupInstanceId);
    if (owner !== undefined && owner !== memberId) return ErrorCode.FENCED_INSTANCE_ID;
    return ErrorCode.NONE;
  }

  // ---- Offsets ----------------------------------------------------------------------------------

  /** Kafka's validateOffsetCommit: returns the error for every partition, or NONE. */
  private validateCommit(group: Group | undefined, req: OffsetCommitInput): number {
    if (group === undefined) return req.generationId < 0 ? ErrorCode.NONE : ErrorCode.ILLEGAL_GENERATION;
    if (group.state === 'Dead') return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    if (req.generationId < 0 && group.state === 'Empty') return ErrorCode.NONE;
    const fenced = this.checkStatic(group, req.memberId, req.groupInstanceId);
    if (fenced !== ErrorCode.NONE) return fenced;
    const member = group.members.get(req.memberId);
    if (member === undefined) return ErrorCode.UNKNOWN_MEMBER_ID;
    if (req.generationId !== group.generationId) return ErrorCode.ILLEGAL_GENERATION;
    if (group.state === 'CompletingRebalance') return ErrorCode.REBALANCE_IN_PROGRESS;
    this.scheduleSessionExpiry(group, member);
    return ErrorCode.NONE;
  }

  /** Commits offsets durably; returns an error code per offset, in input order. */
  async commitOffsets(req: OffsetCommitInput): Promise<number[]> {
    if (req.groupId.length === 0) return req.offsets.map(() => ErrorCode.INVALID_GROUP_ID);
    let group = this.groups.get(req.groupId);
    const error = this.validateCommit(group, req);
    if (error !== ErrorCode.NONE) return req.offsets.map(() => error);
    if (group === undefined) {
      if (this.groups.size >= this.config.maxGroups) return req.offsets.map(() => ErrorCode.GROUP_MAX_SIZE_REACHED);
      group = new Group(req.groupId, this.clock.nowMs());
      this.groups.set(req.groupId, group);
    }
    const now = this.clock.nowMs();
    const codes: number[] = [];
    const accepted: Array<{ topic: string; partition: number; value: CommittedOffset }> = [];
    for (const o of req.offsets) {
      if (!this.partitionExists(o.topic, o.partition)) codes.push(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
      else if (o.metadata !== null && Buffer.byteLength(o.metadata) > this.config.maxOffsetMetadataBytes) codes.push(ErrorCode.OFFSET_METADATA_TOO_LARGE);
      else {
        codes.push(ErrorCode.NONE);
        accepted.push({ topic: o.topic, partition: o.partition, value: { offset: o.offset, leaderEpoch: o.leaderEpoch, metadata: o.metadata, commitTimestampMs: now } });
      }
    }
    if (accepted.length === 0) return codes;
    try {
      await this.store.commitOffsets(req.groupId, accepted);
    } catch (err) {
      this.logger.error('offset commit not stored', { group: req.groupId, err });
      return codes.map((c) => (c === ErrorCode.NONE ? ErrorCode.KAFKA_STORAGE_ERROR : c));
    }
    let m = this.offsets.get(req.groupId);
    if (m === undefined) this.offsets.set(req.groupId, (m = new Map()));
    for (const a of accepted) m.set(`${a.topic}\u0000${a.partition}`, a.value);
    return codes;
  }

  /** Committed offsets of a group: all of them when `topics` is null. */
  fetchOffsets(groupId: string, topics: Array<{ name: string; partitions: number[] }> | null): Array<{ topic: string; partition: number; committed: CommittedOffset | null }> {
    const m = this.offsets.get(groupId);
    if (topics === null) {
      const out: Array<{ topic: string; partition: number; committed: CommittedOffset | null }> = [];
      for (const [key, committed] of m ?? []) {
        const [topic, partition] = key.split('\u0000');
        out.push({ topic, partition: Number(partition), committed });
      }
      return out;
    }
    return topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p, committed: m?.get(`${t.name}\u0000${p}`) ?? null })));
  }

  // ---- Admin ------------------------------------------------------------------------------------

  listGroups(): Array<{ groupId: string; protocolType: string; state: string }> {
    const out = [...this.groups.values()].map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state }));
    for (const groupId of this.offsets.keys()) if (!this.groups.has(groupId)) out.push({ groupId, protocolType: '', state: 'Empty' });
    return out;
  }

  describeGroup(groupId: string): { state: string; protocolType: string; protocolName: string; generationId: number; members: Array<{ memberId: string; groupInstanceId: string | null; clientId: string; clientHost: string; metadata: Buffer; assignment: Buffer }> } | null {
    const g = this.groups.get(groupId);
    if (g === undefined) return this.offsets.has(groupId) ? { state: 'Empty', protocolType: '', protocolName: '', generationId: 0, members: [] } : null;
    return {
      state: g.state,
      protocolType: g.protocolType ?? '',
      protocolName: g.state === 'Stable' ? (g.protocolName ?? '') : '',
      generationId: g.generationId,
      members: [...g.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        // Kafka's GroupMetadata.summary: metadata and assignment only for a Stable group.
        metadata: g.state === 'Stable' ? g.metadataFor(m) : Buffer.alloc(0),
        assignment: g.state === 'Stable' ? m.assignment : Buffer.alloc(0),
      })),
    };
  }

  /** Deletes an empty group and its offsets. */
  async deleteGroup(groupId: string): Promise<number> {
    const g = this.groups.get(groupId);
    if (g === undefined && !this.offsets.has(groupId)) return ErrorCode.GROUP_ID_NOT_FOUND;
    if (g !== undefined && g.state !== 'Empty') return ErrorCode.NON_EMPTY_GROUP;
    const offsets = this.fetchOffsets(groupId, null);
    try {
      await this.store.commitOffsets(groupId, offsets.map((o) => ({ topic: o.topic, partition: o.partition, value: null })));
      await this.store.storeGroup(groupId, null);
    } catch (err) {
      this.logger.error('group delete not stored', { group: groupId, err });
      return ErrorCode.KAFKA_STORAGE_ERROR;
    }
    this.offsets.delete(groupId);
    const now = this.groups.get(groupId);
    if (now !== undefined && now.state === 'Empty') {
      now.transition('Dead', this.clock.nowMs());
      this.groups.delete(groupId);
    }
    return ErrorCode.NONE;
  }

  /** OffsetDelete: removes committed offsets of partitions the group is not consuming. */
  async deleteOffsets(groupId: string, partitions: Array<{ topic: string; partition: number }>): Promise<{ errorCode: number; partitions: number[] }> {
    const g = this.groups.get(groupId);
    const m = this.offsets.get(groupId);
    if (g === undefined && m === undefined) return { errorCode: ErrorCode.GROUP_ID_NOT_FOUND, partitions: [] };
    if (g !== undefined && g.state !== 'Empty' && g.protocolType !== 'consumer') return { errorCode: ErrorCode.NON_EMPTY_GROUP, partitions: [] };
    const subscribed = g !== undefined && g.state !== 'Empty' ? this.subscribedTopics(g) : new Set<string>();
    const codes = partitions.map((p) => (subscribed.has(p.topic) ? ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC : ErrorCode.NONE));
    const doomed = partitions.filter((_, i) => codes[i] === ErrorCode.NONE && m?.has(`${partitions[i].topic}\u0000${partitions[i].partition}`));
    try {
      await this.store.commitOffsets(groupId, doomed.map((p) => ({ ...p, value: null })));
    } catch {
      return { errorCode: ErrorCode.KAFKA_STORAGE_ERROR, partitions: [] };
    }
    for (const p of doomed) m?.delete(`${p.topic}\u0000${p.partition}`);
    return { errorCode: ErrorCode.NONE, partitions: codes };
  }

  /**
   * Topics a consumer group subscribes to, read from its members' ConsumerProtocolSubscription
   * metadata (version int16, topics [string]) — the one place the coordinator looks inside it.
   */
  private subscribedTopics(group: Group): Set<string> {
    const topics = new Set<string>();
    for (const m of group.members.values()) {
      const meta = group.metadataFor(m);
      try {
        let pos = 2;
        const count = meta.readInt32BE(pos);
        pos += 4;
        for (let i = 0; i < count && pos + 2 <= meta.length; i++) {
          const len = meta.readInt16BE(pos);
          pos += 2;
          topics.add(meta.toString('utf8', pos, pos + len));
          pos += len;
        }
      } catch {
        // Unparseable metadata: treat as subscribed to nothing we can name.
      }
    }
    return topics;
  }

  /** Deletes offsets of groups that have been empty longer than offsets.retention. */
  async expireOffsets(): Promise<number> {
    const now = this.clock.nowMs();
    let expired = 0;
    for (const [groupId, m] of [...this.offsets]) {
      const g = this.groups.get(groupId);
      if (g !== undefined && g.state !== 'Empty') continue;
      const since = g?.stateTimestampMs ?? 0;
      const doomed = [...m].filter(([, c]) => now - Math.max(c.commitTimestampMs, since) > this.config.offsetsRetentionMs);
      if (doomed.length === 0) continue;
      await this.store.commitOffsets(groupId, doomed.map(([key]) => {
        const [topic, partition] = key.split('\u0000');
        return { topic, partition: Number(partition), value: null };
      }));
      for (const [key] of doomed) m.delete(key);
      expired += doomed.length;
      if (m.size === 0 && (g === undefined || g.members.size === 0)) {
        this.offsets.delete(groupId);
        if (g !== undefined) {
          await this.store.storeGroup(groupId, null);
          this.groups.delete(groupId);
        }
      }
    }
    return expired;
  }

  private snapshot(group: Group): StoredGroup {
    return {
      protocolType: group.protocolType,
      protocolName: group.protocolName,
      generationId: group.generationId,
      leaderId: group.leaderId,
      stateTimestampMs: group.stateTimestampMs,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        groupInstanceId: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        subscription: group.metadataFor(m).toString('base64'),
        assignment: m.assignment.toString('base64'),
      })),
    };
  }

  private persistGroup(group: Group): void {
    this.store.storeGroup(group.groupId, this.snapshot(group)).catch((err: unknown) => this.logger.error('storing group metadata failed', { group: group.groupId, err }));
  }

  get groupCount(): number {
    return this.groups.size;
  }

  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) {
      if (g.joinTimer) clearTimeout(g.joinTimer);
      if (g.syncTimer) clearTimeout(g.syncTimer);
      for (const t of g.pendingMembers.values()) clearTimeout(t);
      for (const m of g.members.values()) {
        this.clearMemberTimers(m);
        m.awaitingJoin?.(joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, m.memberId));
        m.awaitingSync?.(syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
      }
    }
  }
}

/** Protocol metadata copied out of the request frame (which may be a slice of a large shared buffer). */
function ownedProtocols(protocols: Array<{ name: string; metadata: Buffer }>): Array<{ name: string; metadata: Buffer }> {
  return protocols.map((p) => ({ name: p.name, metadata: ownedCopy(p.metadata) }));
}
