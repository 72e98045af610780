// compiled/row_metrics_bfloat16.cpp - every row metric over attention_view<bfloat16>, compiled once.
#define ATTNSCOPE_INSTANCE_ELEMENT ::attnscope::bfloat16
#include "row_metrics.ipp"
