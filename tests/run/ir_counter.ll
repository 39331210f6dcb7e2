; ModuleID = 'tests/run/ir_counter.daft'
source_filename = "tests/run/ir_counter.daft"

%DaftMethodDesc = type { i8*, i32 (i8*, i8*, %DaftValue*, i32, %DaftValue*)* }
%DaftValue = type { i32, [11 x i64] }
%DaftClassDesc = type { i8*, i64, i32 (i8*, i8*, %DaftValue*, i32)*, void (i8*, i8*)*, %DaftMethodDesc*, i32 }
%DaftGenProgram = type { i8*, %DaftClassDesc*, i32 (i8*)*, i32, i32 }
%state.Acc = type { i64 }

@daft_gen_where = external global i64
@.str = private unnamed_addr constant [4 x i8] c"add\00"
@daft.methods.Acc = private constant [1 x %DaftMethodDesc] [%DaftMethodDesc { i8* getelementptr inbounds ([4 x i8], [4 x i8]* @.str, i32 0, i32 0), i32 (i8*, i8*, %DaftValue*, i32, %DaftValue*)* @daft.w.Acc.add }]
@.str.1 = private unnamed_addr constant [4 x i8] c"Acc\00"
@daft.classes = private constant [1 x %DaftClassDesc] [%DaftClassDesc { i8* getelementptr inbounds ([4 x i8], [4 x i8]* @.str.1, i32 0, i32 0), i64 8, i32 (i8*, i8*, %DaftValue*, i32)* @daft.init.Acc.init, void (i8*, i8*)* null, %DaftMethodDesc* getelementptr inbounds ([1 x %DaftMethodDesc], [1 x %DaftMethodDesc]* @daft.methods.Acc, i32 0, i32 0), i32 1 }]
@.str.2 = private unnamed_addr constant [26 x i8] c"tests/run/ir_counter.daft\00"
@daft.program = private constant %DaftGenProgram { i8* getelementptr inbounds ([26 x i8], [26 x i8]* @.str.2, i32 0, i32 0), %DaftClassDesc* getelementptr inbounds ([1 x %DaftClassDesc], [1 x %DaftClassDesc]* @daft.classes, i32 0, i32 0), i32 (i8*)* @daft.entry, i32 1, i32 0 }

define internal i32 @daft.m.Acc.add(i8* %ctx, i8* %state, i64 %x, i64* %result) {
entry:
  %status = alloca i32, align 4
  store i32 0, i32* %status, align 4
  %self = bitcast i8* %state to %state.Acc*
  %x1 = alloca i64, align 8
  store i64 %x, i64* %x1, align 8
  br label %body

body:                                             ; preds = %entry
  %n = getelementptr inbounds %state.Acc, %state.Acc* %self, i32 0, i32 0
  %0 = load i64, i64* %n, align 8
  %1 = load i64, i64* %x1, align 8
  %2 = mul i64 %1, 2
  %3 = add i64 %0, %2
  store i64 %3, i64* %n, align 8
  %n2 = getelementptr inbounds %state.Acc, %state.Acc* %self, i32 0, i32 0
  %n3 = load i64, i64* %n2, align 8
  store i64 %n3, i64* %result, align 8
  br label %exit

exit:                                             ; preds = %dead, %body
  %st = load i32, i32* %status, align 4
  ret i32 %st

dead:                                             ; No predecessors!
  br label %exit
}

define internal i32 @daft.fn.main(i8* %ctx) {
entry:
  %status = alloca i32, align 4
  store i32 0, i32* %status, align 4
  %where = load i64, i64* @daft_gen_where, align 8
  %a = alloca %DaftValue, align 8
  %0 = getelementptr inbounds %DaftValue, %DaftValue* %a, i32 0, i32 0
  store i32 0, i32* %0, align 4
  %tmp = alloca %DaftValue, align 8
  %1 = getelementptr inbounds %DaftValue, %DaftValue* %tmp, i32 0, i32 0
  store i32 0, i32* %1, align 4
  %args = alloca %DaftValue, align 8
  %tmp2 = alloca %DaftValue, align 8
  %2 = getelementptr inbounds %DaftValue, %DaftValue* %tmp2, i32 0, i32 0
  store i32 0, i32* %2, align 4
  %tmp3 = alloca %DaftValue, align 8
  %3 = getelementptr inbounds %DaftValue, %DaftValue* %tmp3, i32 0, i32 0
  store i32 0, i32* %3, align 4
  %unboxed = alloca i64, align 8
  br label %body

body:                                             ; preds = %entry
  store i64 34359738373, i64* @daft_gen_where, align 8
  call void @daft_gen_spawn(%DaftValue* %tmp, i32 0, %DaftValue* null, i32 0, i32 -1, i32 -1)
  call void @daft_gen_drop(%DaftValue* %a)
  %4 = load %DaftValue, %DaftValue* %tmp, align 8
  store %DaftValue %4, %DaftValue* %a, align 8
  %kind.p = getelementptr inbounds %DaftValue, %DaftValue* %tmp, i32 0, i32 0
  store i32 0, i32* %kind.p, align 4
  call void @daft_gen_drop(%DaftValue* %tmp)
  store i64 38654705669, i64* @daft_gen_where, align 8
  %arg = getelementptr inbounds %DaftValue, %DaftValue* %args, i32 0
  %kind.p1 = getelementptr inbounds %DaftValue, %DaftValue* %arg, i32 0, i32 0
  store i32 1, i32* %kind.p1, align 4
  %pay.p = getelementptr inbounds %DaftValue, %DaftValue* %arg, i32 0, i32 1, i32 0
  store i64 3, i64* %pay.p, align 8
  call void @daft_gen_call(%DaftValue* %tmp2, %DaftValue* %a, i32 0, %DaftValue* %args, i32 1)
  %r = call i32 @daft_gen_get_take(i8* %ctx, %DaftValue* %tmp2, double -1.000000e+00, %DaftValue* %tmp3)
  %failed = icmp ne i32 %r, 0
  br i1 %failed, label %fail, label %ok

exit:                                             ; preds = %ok7, %fail6, %fail
  call void @daft_gen_drop(%DaftValue* %a)
  call void @daft_gen_drop(%DaftValue* %tmp)
  call void @daft_gen_drop(%DaftValue* %tmp2)
  call void @daft_gen_drop(%DaftValue* %tmp3)
  store i64 %where, i64* @daft_gen_where, align 8
  %st = load i32, i32* %status, align 4
  ret i32 %st

fail:                                             ; preds = %body
  store i32 %r, i32* %status, align 4
  br label %exit

ok:                                               ; preds = %body
  %5 = bitcast i64* %unboxed to i8*
  %r4 = call i32 @daft_gen_unbox_i64(i8* %ctx, %DaftValue* %tmp3, i8* %5)
  %failed5 = icmp ne i32 %r4, 0
  br i1 %failed5, label %fail6, label %ok7

fail6:                                            ; preds = %ok
  store i32 %r4, i32* %status, align 4
  br label %exit

ok7:                                              ; preds = %ok
  %6 = load i64, i64* %unboxed, align 8
  call void @daft_gen_print_begin(i8* %ctx)
  call void @daft_gen_print_i64(i64 %6, i32 1)
  call void @daft_gen_print_end()
  call void @daft_gen_drop(%DaftValue* %tmp3)
  call void @daft_gen_drop(%DaftValue* %tmp2)
  br label %exit
}

define internal i32 @daft.w.Acc.add(i8* %0, i8* %1, %DaftValue* %2, i32 %3, %DaftValue* %4) {
entry:
  %status = alloca i32, align 4
  store i32 0, i32* %status, align 4
  %unboxed = alloca i64, align 8
  %ret = alloca i64, align 8
  br label %body

body:                                             ; preds = %entry
  %r = call i32 @daft_gen_check_nargs(i8* %0, i32 %3, i32 1)
  %failed = icmp ne i32 %r, 0
  br i1 %failed, label %fail, label %ok

exit:                                             ; preds = %ok7, %fail6, %fail3, %fail
  %st8 = load i32, i32* %status, align 4
  ret i32 %st8

fail:                                             ; preds = %body
  store i32 %r, i32* %status, align 4
  br label %exit

ok:                                               ; preds = %body
  %5 = getelementptr inbounds %DaftValue, %DaftValue* %2, i32 0
  %6 = bitcast i64* %unboxed to i8*
  %r1 = call i32 @daft_gen_unbox_i64(i8* %0, %DaftValue* %5, i8* %6)
  %failed2 = icmp ne i32 %r1, 0
  br i1 %failed2, label %fail3, label %ok4

fail3:                                            ; preds = %ok
  store i32 %r1, i32* %status, align 4
  br label %exit

ok4:                                              ; preds = %ok
  %7 = load i64, i64* %unboxed, align 8
  %st = call i32 @daft.m.Acc.add(i8* %0, i8* %1, i64 %7, i64* %ret)
  %failed5 = icmp ne i32 %st, 0
  br i1 %failed5, label %fail6, label %ok7

fail6:                                            ; preds = %ok4
  store i32 %st, i32* %status, align 4
  br label %exit

ok7:                                              ; preds = %ok4
  %8 = load i64, i64* %ret, align 8
  %kind.p = getelementptr inbounds %DaftValue, %DaftValue* %4, i32 0, i32 0
  store i32 1, i32* %kind.p, align 4
  %pay.p = getelementptr inbounds %DaftValue, %DaftValue* %4, i32 0, i32 1, i32 0
  store i64 %8, i64* %pay.p, align 8
  br label %exit
}

declare i32 @daft_gen_check_nargs(i8*, i32, i32)

declare i32 @daft_gen_unbox_i64(i8*, %DaftValue*, i8*)

define internal i32 @daft.init.Acc.init(i8* %0, i8* %1, %DaftValue* %2, i32 %3) {
entry:
  %status = alloca i32, align 4
  store i32 0, i32* %status, align 4
  br label %body

body:                                             ; preds = %entry
  %4 = bitcast i8* %1 to %state.Acc*
  %r = call i32 @daft_gen_check_nargs(i8* %0, i32 %3, i32 0)
  %failed = icmp ne i32 %r, 0
  br i1 %failed, label %fail, label %ok

exit:                                             ; preds = %ok, %fail
  %st = load i32, i32* %status, align 4
  ret i32 %st

fail:                                             ; preds = %body
  store i32 %r, i32* %status, align 4
  br label %exit

ok:                                               ; preds = %body
  br label %exit
}

declare void @daft_gen_spawn(%DaftValue*, i32, %DaftValue*, i32, i32, i32)

declare void @daft_gen_drop(%DaftValue*)

declare void @daft_gen_call(%DaftValue*, %DaftValue*, i32, %DaftValue*, i32)

declare i32 @daft_gen_get_take(i8*, %DaftValue*, double, %DaftValue*)

declare void @daft_gen_print_begin(i8*)

declare void @daft_gen_print_i64(i64, i32)

declare void @daft_gen_print_end()

define internal i32 @daft.entry(i8* %0) {
entry:
  %st = call i32 @daft.fn.main(i8* %0)
  %1 = icmp ne i32 %st, 0
  %2 = select i1 %1, i32 1, i32 0
  ret i32 %2
}

define i32 @main(i32 %0, i8** %1) {
entry:
  %r = call i32 @daft_gen_main(i32 %0, i8** %1, %DaftGenProgram* @daft.program)
  ret i32 %r
}

declare i32 @daft_gen_main(i32, i8**, %DaftGenProgram*)
