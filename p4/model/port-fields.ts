// The data fields of switchd's `$PORT` table (Tofino 1, bf-drivers/src/bf_rt/bf_rt_port/
// bf_rt_port_tf1.json in open-p4studio): id, name, type, read-only. Every one is optional in the
// schema; BfRtPortCfgTable::tableEntryAdd itself insists on $SPEED and $FEC.
// Used by gen-bfrt.ts (the schema), the model (reads) and test/p4-schema.test.ts.

export interface PortField {
  id: number;
  name: string;
  type: Record<string, unknown>;
  readOnly: boolean;
  annotations: object[];
}

const IMP = { name: '$bfrt_field_imp_level', value: '2' };
const cls = (value: string) => ({ name: '$bfrt_port_type_class', value });
const str = (choices: string[]) => ({ type: 'string', choices });
const u32 = (d?: number) => ({ type: 'uint32', ...(d === undefined ? {} : { default_value: d }) });
const i32 = { type: 'int32', default_value: '0' };
const bool = (d?: boolean) => ({ type: 'bool', ...(d === undefined ? {} : { default_value: d }) });

const f = (id: number, name: string, type: Record<string, unknown>, readOnly = false, annotations: object[] = []): PortField => ({
  id,
  name,
  type,
  readOnly,
  annotations,
});

export const PORT_FIELDS: PortField[] = [
  f(
    1,
    '$SPEED',
    str([
      'BF_SPEED_NONE',
      'BF_SPEED_1G',
      'BF_SPEED_10G',
      'BF_SPEED_25G',
      'BF_SPEED_40G',
      'BF_SPEED_40G_NB',
      'BF_SPEED_40G_NON_BREAKABLE',
      'BF_SPEED_50G',
      'BF_SPEED_100G',
      'BF_SPEED_200G',
      'BF_SPEED_400G',
    ]),
    false,
    [IMP],
  ),
  f(
    2,
    '$FEC',
    str(['BF_FEC_TYP_NONE', 'BF_FEC_TYP_FIRECODE', 'BF_FEC_TYP_REED_SOLOMON', 'BF_FEC_TYP_FC', 'BF_FEC_TYP_RS']),
    false,
    [IMP],
  ),
  f(3, '$N_LANES', u32(1)),
  f(4, '$PORT_ENABLE', bool(false), false, [IMP]),
  f(5, '$AUTO_NEGOTIATION', str(['PM_AN_DEFAULT', 'PM_AN_FORCE_ENABLE', 'PM_AN_FORCE_DISABLE']), false, [IMP]),
  f(
    6,
    '$LOOPBACK_MODE',
    str(['BF_LPBK_NONE', 'BF_LPBK_MAC_NEAR', 'BF_LPBK_MAC_FAR', 'BF_LPBK_PCS_NEAR', 'BF_LPBK_SERDES_NEAR', 'BF_LPBK_SERDES_FAR']),
    false,
    [IMP],
  ),
  f(7, '$TX_MTU', u32(10240)),
  f(8, '$RX_MTU', u32(10240)),
  f(9, '$TX_PFC_EN_MAP', u32(0)),
  f(10, '$RX_PFC_EN_MAP', u32(0)),
  f(11, '$TX_PAUSE_FRAME_EN', bool(false)),
  f(12, '$RX_PAUSE_FRAME_EN', bool(false)),
  f(13, '$CUT_THROUGH_EN', bool(false)),
  f(14, '$PORT_DIR', str(['PM_PORT_DIR_DEFAULT', 'PM_PORT_DIR_TX_ONLY', 'PM_PORT_DIR_RX_ONLY'])),
  f(15, '$MEDIA_TYPE', str(['BF_MEDIA_TYPE_COPPER', 'BF_MEDIA_TYPE_OPTICAL', 'BF_MEDIA_TYPE_UNKNOWN']), true),
  f(16, '$SDS_TX_ATTN', u32(0)),
  f(17, '$SDS_TX_PRE', i32),
  f(18, '$SDS_TX_PRE2', i32),
  f(19, '$SDS_TX_POST', i32),
  f(20, '$SDS_TX_POST2', i32),
  f(21, '$IS_VALID', bool(), true),
  f(22, '$IS_INTERNAL', bool(), true),
  f(23, '$CONN_ID', u32(), true, [cls('port_hdl_conn_id'), IMP]),
  f(24, '$CHNL_ID', u32(), true, [cls('port_hdl_chnl_id'), IMP]),
  f(25, '$PORT_UP', bool(), true, [IMP]),
  f(26, '$PORT_NAME', { type: 'string' }, true, [cls('port_name'), IMP]),
  f(27, '$RX_PRSR_PRI_THRESH', u32()),
  f(28, '$TIMESTAMP_1588_DELTA_TX', { type: 'uint16' }),
  f(29, '$TIMESTAMP_1588_DELTA_RX', { type: 'uint16' }),
  f(30, '$TIMESTAMP_1588_VALID', bool(), true),
  f(31, '$TIMESTAMP_1588_VALUE', { type: 'uint64' }, true),
  f(32, '$TIMESTAMP_1588_ID', u32(), true),
  f(33, '$PLL_OVRCLK', { type: 'float', default_value: 0 }),
];
