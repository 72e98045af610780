// compiled/row_metrics_float.cpp - every row metric over attention_view<float>, compiled once.
#define ATTNSCOPE_INSTANCE_ELEMENT float
#include "row_metrics.ipp"
