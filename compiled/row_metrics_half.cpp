// compiled/row_metrics_half.cpp - every row metric over attention_view<half>, compiled once.
#define ATTNSCOPE_INSTANCE_ELEMENT ::attnscope::half
#include "row_metrics.ipp"
